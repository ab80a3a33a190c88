"""ASE calculator for exported models, checkpoints and run directories; committees."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from mlip_gnn.calculators.committee import Committee, ModelSource
from mlip_gnn.data import DataError, KeyMap, configuration_from_atoms
from mlip_gnn.inference import UncertaintyEstimator

__all__ = ["MLIPCalculator", "collinear_moments"]

_NO_LABELS = KeyMap(energy=None, forces=None, stress=None, virial=None, weight=None,
                    config_type=None)


def collinear_moments(atoms) -> np.ndarray:
    """``atoms``' initial magnetic moments [n] μB; non-collinear ones are refused."""
    moments = np.asarray(atoms.get_initial_magnetic_moments(), dtype=np.float64)
    if moments.shape != (len(atoms),):
        raise DataError(f"atoms: initial magnetic moments have shape {moments.shape}; a "
                        f"collinear spin model needs one value per atom ({len(atoms)},)")
    return moments


class MLIPCalculator(Calculator):
    """ASE calculator: ``energy``, ``free_energy`` (= energy), ``forces``, ``stress``
    (Voigt 6, eV/Å³, ASE sign; only for fully periodic cells) and ``energies`` (per atom).

    ``model_paths``: one or several exported files, checkpoints, run directories or
    in-memory potentials. With several, results are the committee mean and the extra
    results ``energy_std`` (eV), ``forces_std`` ([n], eV/Å, norm of the per-component
    standard deviation), ``max_forces_std`` (eV/Å) and ``stress_std`` are set (population
    standard deviations), and ``ood_score`` ([n], per-atom out-of-distribution score) and
    ``max_ood_score``. ``estimator`` replaces the committee spread by another
    :class:`~mlip_gnn.inference.UncertaintyEstimator` or names one (``committee``,
    ``llpr``, ``distance``; see :mod:`mlip_gnn.uncertainty`): the same results then come
    from it, with its extra results.
    ``compile=True`` runs checkpoints' and run directories' models through
    ``torch.compile`` (:func:`~mlip_gnn.model.compile_energy`): the first call of each
    system size compiles, later ones are faster; an export stays TorchScript.
    Results are cached until the atoms change (``check_state``).

    A spin model (``model.spin: collinear``) reads the moments from
    ``atoms.get_initial_magnetic_moments()`` (μB, one collinear value per atom; a change
    of them is a change of the atoms) and adds ``magnetic_forces`` ([n], eV/μB,
    -∂E/∂m_i); the moments are held fixed, so ``forces`` are at fixed moments.

    A long-range model (``model.long_range``) reads the total charge from
    ``atoms.info["charge"]`` (e; absent: neutral; a change of it is a change of the
    atoms) and adds ``charges`` ([n], e, the latent charges; ``atoms.get_charges()``).

    Raises :class:`~mlip_gnn.data.UnknownSpeciesError` for an element a model lacks and
    :class:`~mlip_gnn.data.DataError` for NaN positions, a zero-volume periodic cell or
    overlapping atoms.

    >>> atoms.calc = MLIPCalculator("cu.pt")  # doctest: +SKIP
    >>> atoms.get_potential_energy()  # doctest: +SKIP
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energies",
                              "magnetic_forces", "charges"]

    def __init__(self, model_paths: ModelSource | Sequence[ModelSource],
                 device: str = "auto", use_ema: bool = True,
                 estimator: str | UncertaintyEstimator | None = None,
                 compile: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.committee = Committee(model_paths, device=device, use_ema=use_ema,
                                   estimator=estimator, compile=compile)

    @property
    def r_max(self) -> float:
        """Cutoff (Å) of the committee's models."""
        return self.committee.r_max

    def check_state(self, atoms, tol: float = 1e-15):
        """ASE's changes, plus ``charge`` when ``atoms.info["charge"]`` changed."""
        changes = super().check_state(atoms, tol)
        if self.atoms is not None and (atoms.info.get("charge", 0.0)
                                       != self.atoms.info.get("charge", 0.0)):
            changes.append("charge")
        return changes

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        """Energy, forces, stress (periodic cells) and uncertainties of ``atoms``, as ASE asks."""
        super().calculate(atoms, properties, system_changes)
        conf = configuration_from_atoms(self.atoms, _NO_LABELS, source="atoms")
        if self.committee.spin:
            conf.magmoms = collinear_moments(self.atoms)
        pred = self.committee.predict(conf).results()
        if "stress" in properties and "stress" not in pred:
            raise PropertyNotImplementedError("stress needs a fully periodic cell with "
                                              "non-zero volume")
        self.results = {"energy": pred["energy"], "free_energy": pred["energy"],
                        "forces": pred["forces"], "energies": pred["energies"]}
        for key, value in pred.items():  # stress and whatever the estimator gives
            if key in ("stress", "stress_std"):
                value = full_3x3_to_voigt_6_stress(value)
            self.results.setdefault(key, value)
