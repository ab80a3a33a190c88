"""The labelled quantities: one table that the loss, the metrics, evaluation, the parity
plots and the training monitor all read.

A quantity is predicted by the model and, where a frame carries the label, compared with
it. Its graph key names both the label and the prediction (``keys.*``); its mask key is the
per-frame 0/1 field that says whether the frame has the label. Per-atom quantities have
one row per atom, per-structure ones one row per frame. Errors of ``energy`` are taken per
atom ((E_pred - E_ref) / n), of the others per Cartesian or tensor component.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Tuple

from mlip_gnn.data import keys

__all__ = ["Quantity", "QUANTITIES", "QUANTITY_NAMES", "ENERGY", "FORCES", "STRESS",
           "MAGNETIC_FORCES", "CHARGES",
           "quantity", "metric_units", "METRIC_SCALE"]


@dataclasses.dataclass(frozen=True)
class Quantity:
    """name: label, loss term and metric prefix (``<name>_mae``); key: graph key of label
    and prediction; mask_key: per-frame label mask; per_atom: rows per atom (else per
    frame); components: entries per row (1, 3, 9); unit: of the label; error_unit: of the
    residual the metrics average (energy per atom); metric_unit: of MAE / RMSE (meV...);
    title: for plots and tables."""

    name: str
    key: str
    mask_key: str
    per_atom: bool
    components: int
    unit: str
    error_unit: str
    metric_unit: str
    title: str
    per_atom_energy: bool = False  # residuals divided by the frame's atom count

    @property
    def symbol(self) -> str:
        """One letter for narrow table headers: E, F, S."""
        return self.name[0].upper()


#: eV → meV: metrics are reported in meV (per atom, per Å, per Å³)
METRIC_SCALE = 1000.0

ENERGY = Quantity("energy", keys.TOTAL_ENERGY, keys.ENERGY_WEIGHT, per_atom=False,
                  components=1, unit="eV", error_unit="eV/atom", metric_unit="meV/atom",
                  title="energy per atom", per_atom_energy=True)
FORCES = Quantity("forces", keys.FORCES, keys.FORCES_WEIGHT, per_atom=True, components=3,
                  unit="eV/Å", error_unit="eV/Å", metric_unit="meV/Å",
                  title="force components")
STRESS = Quantity("stress", keys.STRESS, keys.STRESS_WEIGHT, per_atom=False, components=9,
                  unit="eV/Å³", error_unit="eV/Å³", metric_unit="meV/Å³",
                  title="stress components")

#: -∂E/∂m of spin models (``model.spin: collinear``): a loss term where frames carry it
#: (constrained-moment DFT), not one of the reported :data:`QUANTITIES`, whose metrics and
#: tables every model fills
MAGNETIC_FORCES = Quantity("magnetic_forces", keys.MAGNETIC_FORCES,
                           keys.MAGNETIC_FORCES_WEIGHT, per_atom=True, components=1,
                           unit="eV/μB", error_unit="eV/μB", metric_unit="meV/μB",
                           title="magnetic forces -dE/dm")

#: per-atom charges of long-range models (``model.long_range.electrostatics: latent``):
#: a loss term where frames carry charge labels (``data.keys.charges``, e.g. Hirshfeld or
#: xTB charges), which pins the latent charges to physical ones
CHARGES = Quantity("charges", keys.CHARGES, keys.CHARGES_WEIGHT, per_atom=True,
                   components=1, unit="e", error_unit="e", metric_unit="me",
                   title="atomic charges")

#: every labelled quantity, in report order
QUANTITIES: Tuple[Quantity, ...] = (ENERGY, FORCES, STRESS)
QUANTITY_NAMES: Tuple[str, ...] = tuple(q.name for q in QUANTITIES)
_BY_NAME: Dict[str, Quantity] = {q.name: q for q in QUANTITIES}


def quantity(name: str) -> Quantity:
    """The quantity called ``name``; a miss lists the valid names."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown quantity {name!r}; valid: {list(QUANTITY_NAMES)}") from None


def metric_units() -> Dict[str, str]:
    """name → unit of its MAE / RMSE, as written into metrics files."""
    return {q.name: q.metric_unit for q in QUANTITIES}
