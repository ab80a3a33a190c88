"""ASE calculator for trained potentials (single model or committee).

>>> from mlip_gnn.calculators import MLIPCalculator  # doctest: +SKIP
>>> atoms.calc = MLIPCalculator(["m1.pt", "m2.pt"])  # doctest: +SKIP
>>> atoms.get_forces(); atoms.calc.results["max_forces_std"]  # doctest: +SKIP
"""

from mlip_gnn.calculators.ase_calculator import MLIPCalculator
from mlip_gnn.calculators.committee import Committee

__all__ = ["MLIPCalculator", "Committee"]
