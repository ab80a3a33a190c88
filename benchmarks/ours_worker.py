"""One benchmark case for our model; prints one JSON line. Run by ``bench_speed.py``."""

import torch
from benchlib import (R_MAX, SIZES, Meter, check_forces, emit, make_atoms, median_ms,
                      num_params, time_calls, training_loss, worker_args)

from mlip_gnn.data import (SpeciesTable, configuration_from_atoms, graph_from_configuration,
                           neighbour_list, to_device)
from mlip_gnn.data import keys
from mlip_gnn.model import build_model


def main() -> None:
    args = worker_args()
    device = torch.device(args.device)
    conf = configuration_from_atoms(make_atoms(args.cells))
    table = SpeciesTable([29])
    nl_ms = median_ms(lambda: neighbour_list(conf.positions, conf.cell, conf.pbc, R_MAX))
    graph_ms = median_ms(lambda: graph_from_configuration(conf, R_MAX, table, torch.float32))
    graph = to_device(graph_from_configuration(conf, R_MAX, table, torch.float32), device)
    # 42 neighbours within 5 Å in fcc Cu; only the normalisation depends on it
    model = build_model(species=[29], r_max=R_MAX, avg_num_neighbors=42.0, dtype="float32",
                        seed=0, **SIZES[args.size]).to(device)
    model.train(args.mode == "train")  # inference runs in eval mode, as deployed
    out = {}

    train = args.mode == "train"

    def call():
        model.zero_grad(set_to_none=True)
        result = model(graph, compute_forces=True, compute_stress=False, training=train)
        if train:
            training_loss(result[keys.TOTAL_ENERGY], result[keys.FORCES]).backward()
        out["forces"] = result[keys.FORCES]

    meter = Meter(device)
    timing = time_calls(call, device, args.warmup, args.repeats, args.budget_s)
    emit(dict(model="ours", size=args.size, device=args.device, mode=args.mode,
              num_atoms=conf.num_atoms, num_edges=int(graph[keys.EDGE_INDEX].shape[1]),
              params=num_params(model), nl_ms=nl_ms, graph_ms=graph_ms,
              peak_mb=meter.peak_delta_mb(), peak_total_mb=meter.peak_total_mb(),
              max_abs_force=check_forces(out["forces"]), **timing))


if __name__ == "__main__":
    main()
