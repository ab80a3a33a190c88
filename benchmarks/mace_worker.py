"""One benchmark case for MACE (mace-torch); prints one JSON line.

Run by ``bench_speed.py --mace-python ../mace-venv/bin/python`` in MACE's own virtual
environment (see README.md); it must not import mlip_gnn. The model is MACE as its
``mace_run_train`` builds it by default (``--model MACE``, residual interaction blocks,
radial MLP [64, 64, 64], readout MLP 16x0e, SiLU gate), sized after ``benchlib.SIZES``.
"""

import mace  # noqa: F401  # first: it lets e3nn 0.4.4 read its constants under torch >= 2.6
import numpy as np
import torch
from benchlib import (R_MAX, SIZES, Meter, check_forces, emit, make_atoms, median_ms,
                      num_params, time_calls, training_loss, worker_args)
from e3nn import o3
from mace import data as mace_data
from mace import modules
from mace.tools import AtomicNumberTable, torch_geometric


def build_mace(size: dict) -> torch.nn.Module:
    """MACE with ``num_channels`` x (0e + 1o ... up to hidden_ell) hidden features."""
    hidden = "+".join(f"{size['num_channels']}x{ell}{'eo'[ell % 2]}"
                      for ell in range(size["hidden_ell"] + 1))
    residual = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
    torch.manual_seed(0)
    return modules.MACE(
        r_max=R_MAX, num_bessel=8, num_polynomial_cutoff=5, max_ell=size["max_ell"],
        interaction_cls=residual, interaction_cls_first=residual,
        num_interactions=size["num_layers"], num_elements=1,
        hidden_irreps=o3.Irreps(hidden), MLP_irreps=o3.Irreps("16x0e"),
        atomic_energies=np.zeros(1), avg_num_neighbors=42.0, atomic_numbers=[29],
        correlation=size["correlation"], gate=torch.nn.functional.silu,
        radial_MLP=[64, 64, 64]).float()


def main() -> None:
    args = worker_args()
    device = torch.device(args.device)
    atoms = make_atoms(args.cells)
    config = mace_data.config_from_atoms(atoms)
    table = AtomicNumberTable([29])
    nl_ms = median_ms(lambda: mace_data.get_neighborhood(
        atoms.positions, R_MAX, pbc=tuple(atoms.pbc), cell=np.array(atoms.cell)))
    graph_ms = median_ms(lambda: mace_data.AtomicData.from_config(config, table, R_MAX))
    graph = mace_data.AtomicData.from_config(config, table, R_MAX)
    batch = torch_geometric.Batch.from_data_list([graph]).to(device).to_dict()
    model = build_mace(SIZES[args.size]).to(device)
    model.train(args.mode == "train")  # inference runs in eval mode, as deployed
    out = {}

    train = args.mode == "train"

    def call():
        model.zero_grad(set_to_none=True)
        result = model(batch, training=train, compute_force=True, compute_stress=False)
        if train:
            training_loss(result["energy"], result["forces"]).backward()
        out["forces"] = result["forces"]

    meter = Meter(device)
    timing = time_calls(call, device, args.warmup, args.repeats, args.budget_s)
    emit(dict(model="mace", mace=mace.__version__, size=args.size, device=args.device,
              mode=args.mode,
              num_atoms=len(atoms), num_edges=int(batch["edge_index"].shape[1]),
              params=num_params(model), nl_ms=nl_ms, graph_ms=graph_ms,
              peak_mb=meter.peak_delta_mb(), peak_total_mb=meter.peak_total_mb(),
              max_abs_force=check_forces(out["forces"]), **timing))


if __name__ == "__main__":
    main()
