"""Named start scales of the potential: the radial basis constant and the first weights of
the many-body product's orders ν ≥ 2.

A model's scheme is stored with it (the builder's ``init_scheme``): the radial constant is
a fixed part of the function, not a weight, so a trained model must be rebuilt with the
scheme it was trained with to give the same numbers.

``"stable"`` (the default of new models): the orthonormal Bessel constant sqrt(2/r_max)
(DimeNet, MACE) and zero weights for ν ≥ 2, so the product starts as B = A. On a 15-atom
molecule (correlation 3, max_ell 3, 64 channels) the forces start at 0.2-0.3 times the
data's RMS and no step of the first epoch exceeds 1.03 times the first step's loss.
``"legacy"`` (every model stored before the option existed): the unit-mean-square
constant r_max·sqrt(2/3) and random weights for ν ≥ 2; on that molecule the forces
started at 3e7-6e7 times the data's and the first epoch's step losses reached 1.2e18
(benchmarks/results/first_epoch.md).
"""

from dataclasses import dataclass
from typing import Dict

__all__ = ["InitScheme", "INIT_SCHEMES", "init_scheme"]


@dataclass(frozen=True)
class InitScheme:
    """``radial``: a :data:`~mlip_gnn.nn.radial.RADIAL_NORMALISATIONS` name;
    ``higher_orders``: a :data:`~mlip_gnn.nn.symmetric.PRODUCT_INITS` name."""

    radial: str
    higher_orders: str


#: scheme name → its parts
INIT_SCHEMES: Dict[str, InitScheme] = {
    "stable": InitScheme(radial="orthonormal", higher_orders="zero"),
    "legacy": InitScheme(radial="unit_mean_square", higher_orders="random"),
}


def init_scheme(name: str) -> InitScheme:
    """The scheme called ``name``; ValueError naming the valid ones otherwise."""
    if name not in INIT_SCHEMES:
        raise ValueError(f"init_scheme {name!r} not in {sorted(INIT_SCHEMES)}")
    return INIT_SCHEMES[name]
