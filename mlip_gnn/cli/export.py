"""``mlip-gnn export RUN_DIR_OR_CHECKPOINT -o model.pt``: self-contained TorchScript file
(or an AOTInductor package, or a metatomic model)."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

__all__ = ["HELP", "DESCRIPTION", "add_arguments", "run", "report_error"]

HELP = "export a trained model to a self-contained TorchScript file"
DESCRIPTION = """\
Write the model of a run directory (its best.pt, else last.pt) or of a checkpoint as one
TorchScript file that loads with torch.jit.load alone (no mlip_gnn needed):

    model = torch.jit.load("model.pt")
    out = model(positions, atomic_numbers, edge_index, cell_shifts, cell, True)
    # out: energy, atomic_energies, forces, edge_forces, stress, virial (Å, eV, eV/Å, eV/Å³)
    pair = model.pair_forward(edge_vectors, atomic_numbers, edge_index, num_local)
    # pair: energy, atomic_energies, edge_forces (dE/dr_ij), virial (LAMMPS pair style)

The file carries its metadata as the extra file metadata.json and as attributes
(atomic_numbers, symbols, r_max, model_dtype, num_layers, interaction_range, pair_method,
metadata_json): species, cutoff, dtype, message-passing layers and range, reference
energies E0, units, package version, training config and its hash, and the architecture
(the model builder's other arguments). LAMMPS runs the file with `pair_style mlip_gnn`
(make lammps). The EMA weights are exported when the checkpoint has them (--no-ema: the
raw weights). The file is written atomically. Exit status 2 means bad input.

When the run has an LLPR fit (`mlip-gnn uncertainty fit RUN_DIR`) made for the exported
weights, the file carries it: `model.llpr(positions, atomic_numbers, edge_index,
cell_shifts, cell, True)` gives energy_std, energies_std, ood_score and forces_std, and
`--uncertainty llpr` of evaluate and md works on the export alone.

--format aoti compiles the model ahead of time (torch.export + AOTInductor) into a .pt2
package, forces and stress included, for the CPU; it takes minutes and a C++ compiler,
and the ASE calculator, evaluate and md load it like any model file:

    mlip-gnn export runs/cu -o cu.pt2 --format aoti
    mlip-gnn md cu.pt2 ...

--format metatomic writes a metatomic AtomisticModel (energy in eV, full neighbour list
of cutoff r_max; the engine takes forces and stress by autograd) for the engines that
speak the metatomic interface: LAMMPS `pair_style metatomic`, i-PI, ASE's
MetatomicCalculator, TorchSim. It needs the optional dependency: pip install
'mlip_gnn[metatomic]'. Spin and long-range models are refused.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The source, output and export options."""
    parser.add_argument("source", metavar="RUN_DIR_OR_CHECKPOINT",
                        help="run directory or checkpoint (best.pt, last.pt)")
    parser.add_argument("-o", "--output", required=True, help="file to write (TorchScript, "
                        ".pt2 package or metatomic model, as --format says)")
    parser.add_argument("--device", default="cpu", help="device the exported tensors live on: "
                        "cpu or cuda[:N] (default cpu; torch.jit.load(map_location=...) "
                        "can move it later)")
    parser.add_argument("--dtype", choices=["float32", "float64"],
                        help="precision of the exported model (default: the trained one)")
    parser.add_argument("--format", choices=["torchscript", "aoti", "metatomic"],
                        default="torchscript",
                        help="torchscript (default; torch.jit.load alone), aoti "
                             "(ahead-of-time compiled .pt2 package, CPU) or metatomic "
                             "(LAMMPS pair_style metatomic, i-PI, ASE; needs "
                             "mlip_gnn[metatomic])")
    parser.add_argument("--no-ema", action="store_true",
                        help="export the raw weights instead of their moving average")


def report_error(command: str, exc: BaseException) -> int:
    """Print a user error the way ``mlip-gnn`` does (no traceback); return exit status 2."""
    message = " ".join(str(exc).split())
    print(textwrap.fill(f"mlip-gnn {command}: error: {message}", width=100,
                        break_long_words=False, break_on_hyphens=False), file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Export ``args.source`` and print what the file holds."""
    from mlip_gnn.export import AOTIUnavailableError, ModelFileError
    from mlip_gnn.uncertainty.llpr import export_with_llpr
    from mlip_gnn.utils.paths import check_output_file

    source = Path(args.source)
    check_output_file(args.output, "-o/--output",
                      inputs=[source, source / "best.pt", source / "last.pt"])
    if args.format == "metatomic":
        return _run_metatomic(args)
    try:
        path, meta = export_with_llpr(args.source, args.output,
                                      lambda line: print(line, file=sys.stderr),
                                      format=args.format, device=args.device,
                                      dtype=args.dtype, use_ema=not args.no_ema)
    except (ModelFileError, AOTIUnavailableError) as exc:
        return report_error("export", exc)
    print(f"wrote {path}: species {meta['symbols']}, r_max {meta['r_max']} Å, "
          f"{meta['dtype']}, device {args.device}, EMA {meta.get('ema')}, "
          f"config hash {meta.get('config_hash')}"
          + (", with its LLPR uncertainty fit" if "uncertainty" in meta else ""))
    return 0


def _run_metatomic(args: argparse.Namespace) -> int:
    """``--format metatomic``: a metatomic AtomisticModel (an LLPR fit is not carried)."""
    from mlip_gnn.export import ModelFileError
    from mlip_gnn.export.metatomic import MetatomicUnavailableError, export_metatomic

    try:
        path, meta = export_metatomic(args.source, args.output, dtype=args.dtype,
                                      use_ema=not args.no_ema, device=args.device)
    except (ModelFileError, MetatomicUnavailableError) as exc:
        return report_error("export", exc)
    print(f"wrote {path} (metatomic): species {meta['symbols']}, r_max {meta['r_max']} Å, "
          f"interaction range {meta['interaction_range']} Å, {meta['dtype']}, "
          f"EMA {meta.get('ema')}, config hash {meta.get('config_hash')}")
    return 0
