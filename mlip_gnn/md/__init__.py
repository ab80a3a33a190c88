"""Molecular dynamics with a trained potential (ASE integrators), with committee-based
detection of extrapolation.

>>> atoms.calc = MLIPCalculator(["m1.pt", "m2.pt"])  # doctest: +SKIP
>>> settings = MDSettings(ensemble="langevin", max_force_std=0.3)  # doctest: +SKIP
>>> result = run_md(atoms, settings, "md_out")  # doctest: +SKIP
"""

from mlip_gnn.md.run import (ENSEMBLES, LOG_FILE, TRAJECTORY_FILE, ExtrapolationError, MDError,
                             MDResult, MDSettings, energy_drift, prepare_velocities, run_md)
from mlip_gnn.md.spin_mc import SpinMCError, SpinMCResult, SpinMCSettings, spin_monte_carlo
from mlip_gnn.md.start import read_structure, run_md_from_files

__all__ = ["ENSEMBLES", "LOG_FILE", "TRAJECTORY_FILE", "ExtrapolationError", "MDError",
           "MDResult", "MDSettings", "energy_drift", "prepare_velocities", "run_md",
           "read_structure", "run_md_from_files", "SpinMCError", "SpinMCResult",
           "SpinMCSettings", "spin_monte_carlo"]
