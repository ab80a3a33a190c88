"""``mlip-gnn md MODEL... STRUCTURE``: molecular dynamics with ASE integrators."""

from __future__ import annotations

import argparse

from mlip_gnn.cli.device import DEVICE_HELP, device_argument

__all__ = ["HELP", "DESCRIPTION", "add_arguments", "run", "EXIT_EXTRAPOLATION"]

EXIT_EXTRAPOLATION = 3

HELP = "run molecular dynamics with a trained model (or a committee)"
DESCRIPTION = f"""\
Run MD on STRUCTURE (any format ASE reads; --index picks the frame, default the last)
with one model or a committee of several (exported files, checkpoints or run dirs).

Ensembles: nve (velocity Verlet), langevin, nose-hoover (Nose-Hoover chain NVT), npt
(Martyna-Tobias-Klein NPT with full cell fluctuations; needs a periodic cell). Velocities
start from a Maxwell-Boltzmann distribution at --temperature unless the file has momenta.

OUT_DIR receives md.log (every --interval steps: step, time ps, T K, Epot, Ekin, Etot eV,
pressure GPa incl. the kinetic term, and with an uncertainty estimator the largest force
uncertainty eV/Å and OOD score) and md.xyz (extended XYZ frames with energy, forces,
stress, velocities and uncertainties).

A spin model (model.spin: collinear) reads the moments from the structure's per-atom
array initial_magmoms and keeps them fixed during the run (a structure without them is
refused); Monte Carlo moves of the moments: mlip_gnn.md.spin_monte_carlo.

Uncertainty (--uncertainty): 'committee' (the default with several models), 'llpr'
(last-layer prediction rigidity) or 'distance' (descriptor distance); the last two work
on one checkpoint or run dir fitted with `mlip-gnn uncertainty fit RUN_DIR`. With
--max-force-std or --max-ood-score the run stops when any atom passes the limit (the model
is extrapolating), writes that frame to OUT_DIR/extrapolated.xyz and exits with status
{EXIT_EXTRAPOLATION}. Exit status 2 means bad input; the structure and models are checked
before anything is written."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Models, structure, ensemble, limits and output."""
    parser.add_argument("models", metavar="MODEL", nargs="+",
                        help="exported file, checkpoint or run dir; several = committee")
    parser.add_argument("structure", metavar="STRUCTURE", help="starting structure file")
    parser.add_argument("--index", default="-1", help="frame of STRUCTURE (default -1, last)")
    parser.add_argument("--ensemble", default="nve",
                        choices=["nve", "langevin", "nose-hoover", "npt"])
    parser.add_argument("--temperature", type=float, default=300.0, metavar="K",
                        help="initial and target temperature, K (default 300)")
    parser.add_argument("--timestep", type=float, default=1.0, metavar="FS",
                        help="time step, fs (default 1)")
    parser.add_argument("--steps", type=int, default=1000, help="MD steps (default 1000)")
    parser.add_argument("--interval", type=int, default=10,
                        help="steps between log lines and trajectory frames (default 10)")
    parser.add_argument("--friction", type=float, default=0.01, metavar="1/FS",
                        help="Langevin friction, 1/fs (default 0.01)")
    parser.add_argument("--tdamp", type=float, metavar="FS",
                        help="Nose-Hoover / NPT thermostat time, fs (default 100 time steps)")
    parser.add_argument("--pdamp", type=float, metavar="FS",
                        help="NPT barostat time, fs (default 1000 time steps)")
    parser.add_argument("--pressure", type=float, default=0.0, metavar="GPA",
                        help="NPT external pressure, GPa (default 0)")
    parser.add_argument("--uncertainty", choices=["committee", "llpr", "distance"],
                        help="uncertainty estimator (default: committee with several "
                             "models, none with one)")
    parser.add_argument("--max-force-std", type=float, metavar="EV/A",
                        help="stop when an atom's force uncertainty passes this, eV/Å")
    parser.add_argument("--max-ood-score", type=float, metavar="SCORE",
                        help="stop when an atom's out-of-distribution score passes this")
    parser.add_argument("-o", "--output", default="md", metavar="OUT_DIR",
                        help="output directory (default: md)")
    parser.add_argument("--seed", type=int, default=0, help="velocity and Langevin seed")
    parser.add_argument("--device", default="auto", type=device_argument, help=DEVICE_HELP)
    parser.add_argument("--compile", action="store_true",
                        help="run checkpoints' models through torch.compile (compiles at the "
                             "first step; exports stay TorchScript)")
    parser.add_argument("--no-ema", action="store_true",
                        help="checkpoints: use the raw weights instead of the EMA")
    parser.add_argument("--no-progress", action="store_true", help="no progress display")


def run(args: argparse.Namespace) -> int:
    """Run MD as ``args`` say; print the speed, temperature and NVE drift."""
    from mlip_gnn.cli.export import report_error
    from mlip_gnn.export import ModelFileError
    from mlip_gnn.md import ExtrapolationError, MDError, MDSettings, run_md_from_files
    from mlip_gnn.uncertainty import EstimatorFitError
    from mlip_gnn.utils.paths import check_output_dir

    settings = MDSettings(
        ensemble=args.ensemble, temperature_K=args.temperature, timestep_fs=args.timestep,
        steps=args.steps, interval=args.interval, friction_per_fs=args.friction,
        tdamp_fs=args.tdamp, pdamp_fs=args.pdamp, pressure_GPa=args.pressure,
        max_force_std=args.max_force_std, max_ood_score=args.max_ood_score, seed=args.seed)
    check_output_dir(args.output, "-o/--output", inputs=[args.structure])
    try:
        result = run_md_from_files(args.models, args.structure, settings, args.output,
                                   index=args.index, device=args.device,
                                   use_ema=not args.no_ema, compile=args.compile,
                                   estimator=args.uncertainty, progress=not args.no_progress)
    except (ModelFileError, MDError, EstimatorFitError) as exc:
        return report_error("md", exc)
    except ExtrapolationError as exc:
        report_error("md", exc)
        return EXIT_EXTRAPOLATION
    speed = result.steps_done / result.wall_s if result.wall_s > 0 else float("nan")
    print(f"{result.steps_done} steps in {result.wall_s:.1f} s ({speed:.1f} steps/s); "
          f"mean T {result.temperature_K.mean():.1f} K; wrote {args.output}/md.log, md.xyz")
    if args.ensemble == "nve":
        print(f"NVE energy drift: {result.drift_meV_per_atom_ps:.3g} meV/atom/ps "
              "(straight-line fit of Etot/atom against time)")
    return 0
