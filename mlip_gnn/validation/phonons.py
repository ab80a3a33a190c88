"""Phonons from finite displacements with ASE's ``ase.phonons`` module: dispersion along
the standard band path of the primitive cell (ASE ``bandpath``) and the density of states.

ASE's module is used rather than phonopy: it drives any ASE calculator directly, needs no
further dependency, and its ``read(acoustic=True)`` imposes the acoustic sum rule on the
force constants (the self term is minus the sum of the others), so that the acoustic
branches go to zero at Γ.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from ase import units
from ase.phonons import Phonons

from mlip_gnn.validation.names import phonon_labels
from mlip_gnn.validation.result import Check, Measurement
from mlip_gnn.validation.structures import Bulk

__all__ = ["THZ_PER_EV", "phonon_dispersion", "measure_phonons"]

THZ_PER_EV = units._e / units._hplanck / 1e12  # ħω in eV → ν in THz


def phonon_dispersion(primitive, calc, supercell: int, delta: float, npoints: int,
                      dos_kpts: int):
    """Frequencies (THz; imaginary ones negative) along ``primitive``'s standard band path
    and the DOS. Returns a dict: ``x`` [k] path coordinate, ``frequencies`` [k, 3n],
    ``special_x`` / ``special_labels`` (ticks), ``at_label`` (label → [3n] THz at the
    first point of the path carrying that label), ``dos_frequency`` / ``dos`` [200]."""
    atoms = primitive.copy()
    atoms.calc = None
    path = atoms.cell.bandpath(npoints=npoints)
    with tempfile.TemporaryDirectory(prefix="phonons-") as cache:
        phonons = Phonons(atoms, calc, supercell=(supercell,) * 3, delta=delta,
                          name=str(Path(cache) / "phonon"))
        phonons.run()
        phonons.read(acoustic=True)
        structure = phonons.get_band_structure(path, verbose=False)
        dos = phonons.get_dos(kpts=(dos_kpts,) * 3, verbose=False)
    frequencies = structure.energies[0] * THZ_PER_EV  # [k, 3n]
    x, special_x, special_labels = path.get_linear_kpoint_axis()
    at_label = {}
    for label in phonon_labels(atoms.cell):
        point = path.special_points[label]
        distances = np.linalg.norm(path.kpts - point, axis=1)
        at_label[label] = frequencies[int(np.argmin(distances))]
    high = float(frequencies.max())
    grid = dos.sample_grid(npts=200, xmin=0.0, xmax=1.1 * high / THZ_PER_EV,
                           width=0.02 * high / THZ_PER_EV)
    return {"x": np.asarray(x), "frequencies": frequencies,
            "special_x": np.asarray(special_x), "special_labels": list(special_labels),
            "at_label": at_label, "dos_frequency": grid.get_energies() * THZ_PER_EV,
            "dos": grid.get_weights() / THZ_PER_EV}


def measure_phonons(bulk: Bulk, calc) -> Measurement:
    """Highest frequency at each special point (``phonon_frequency_<label>``, THz)."""
    settings = bulk.spec.settings.phonons
    data = phonon_dispersion(bulk.primitive, calc, settings.supercell, settings.delta,
                             settings.npoints, settings.dos_kpts)
    values = {f"phonon_frequency_{k}": float(v.max()) for k, v in data["at_label"].items()}
    lowest = float(data["frequencies"].min())
    gamma = np.abs(data["frequencies"][0, :3]).max()
    checks = [Check("phonons", lowest > -0.05, f"lowest frequency on the path {lowest:.3f} "
                    "THz (negative: imaginary modes, dynamically unstable)"),
              Check("phonons", gamma < 0.05, f"acoustic modes at Γ {gamma:.2e} THz (sum "
                    "rule imposed)")]
    return Measurement(values=values, curves={"phonons": data}, checks=checks)
