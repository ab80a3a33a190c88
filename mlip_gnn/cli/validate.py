"""``mlip-gnn validate MODEL... --system SYSTEM.yaml``: the properties a potential will be
used for, against a reference calculator or published values."""

from __future__ import annotations

import argparse
import time

from mlip_gnn.cli.device import DEVICE_HELP, device_argument

__all__ = ["HELP", "DESCRIPTION", "add_arguments", "run"]

# spelled out so that --help need not import the validation stack (torch, ASE)
FAMILIES = ["lattice", "eos", "elastic", "vacancy", "surfaces", "phases", "magnetism",
            "phonons", "dynamics"]

HELP = "physical properties of a model (or committee) against a reference"
DESCRIPTION = """\
Compute the properties a potential will be used for with MODEL (an exported file,
checkpoint or run dir; several = a committee, each member measured on its own) and with
the reference of SYSTEM.yaml (an ASE calculator by import path, or a table of published
values with their sources), and compare them.

Families: lattice (full cell relaxation; a, c/a), eos (Birch-Murnaghan B, B'), elastic
(C_ij by stress-strain central differences, relaxed ions, Born stability), vacancy
(relaxed and unrelaxed E_f in >= 100 atoms), surfaces (relaxed slabs, J/m^2), phases
(energies of fully relaxed phases relative to the named lattice, meV/atom), magnetism
(FM / AFM orders of bcc and fcc relaxed at fixed moments: energies relative to the first,
meV/atom, and volumes, Å^3/atom; for spin models), phonons
(ase.phonons finite displacements, acoustic sum rule; dispersion and DOS), dynamics
(Langevin then NVE: diffusion coefficient from the MSD with a block error bar, RDF, NVE
energy drift, at SYSTEM.yaml's temperatures). Without 'properties' in SYSTEM.yaml every
family but dynamics runs (the fast set).

OUT_DIR receives validation.json (one entry per property: name, unit, model, reference,
error, relative_error, spread), report.md (the same table, the checks, where the committee
disagrees) and plots (eos.png, phonons.png, rdf_<T>K.png, msd_<T>K.png, errors.png).
Exit status 2 means bad input (the message names the key of SYSTEM.yaml)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Models, SYSTEM.yaml, families and output."""
    parser.add_argument("models", metavar="MODEL", nargs="+",
                        help="exported file, checkpoint or run dir; several = committee")
    parser.add_argument("--system", required=True, metavar="SYSTEM.yaml",
                        help="material, properties, settings and reference")
    parser.add_argument("-o", "--output", default="validation", metavar="OUT_DIR",
                        help="output directory (default: validation)")
    parser.add_argument("--properties", nargs="+", choices=FAMILIES, metavar="FAMILY",
                        help=f"run only these families (of {', '.join(FAMILIES)})")
    parser.add_argument("--with-dynamics", action="store_true",
                        help="add dynamics to the families of SYSTEM.yaml")
    parser.add_argument("--no-plots", action="store_true", help="no PNG figures")
    parser.add_argument("--device", default="auto", type=device_argument, help=DEVICE_HELP)
    parser.add_argument("--no-ema", action="store_true",
                        help="checkpoints: use the raw weights instead of the EMA")
    parser.add_argument("--no-progress", action="store_true", help="no progress display")


def run(args: argparse.Namespace) -> int:
    """Validate ``args.models`` against SYSTEM.yaml; print where the report went."""
    from mlip_gnn.utils.paths import check_output_dir
    from mlip_gnn.validation import validate_models, write_report

    check_output_dir(args.output, "-o/--output")
    start = time.perf_counter()
    result = validate_models(args.models, args.system, only=args.properties,
                             with_dynamics=args.with_dynamics, device=args.device,
                             use_ema=not args.no_ema, progress=not args.no_progress)
    written = write_report(result, args.output, plots=not args.no_plots)
    print(f"validated {len(result.entries)} properties in {time.perf_counter() - start:.0f} s;"
          f" wrote {written['json']}, {written['report']}")
    if result.disagreements:
        print("the committee disagrees on: " + ", ".join(result.disagreements))
    return 0
