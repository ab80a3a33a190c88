"""Predictions for every frame of structure files, written as extended XYZ.

Each frame is written as read (positions, cell, its own labels and info), with the model's
results added under a prefix (default ``MLIP_``): ``<prefix>energy`` (eV),
``<prefix>stress`` (Voigt xx yy zz yz xz xy, eV/Å³, ASE sign; periodic cells only) in the
frame info, ``<prefix>forces`` (eV/Å) and ``<prefix>energies`` (per-atom, eV) per atom. A
committee of two or more models adds its spread: ``<prefix>energy_std`` (eV),
``<prefix>max_forces_std`` (eV/Å), ``<prefix>stress_std`` (Voigt, eV/Å³) and per atom
``<prefix>forces_std`` (eV/Å). A spin model reads each frame's moments
(``initial_magmoms`` unless the key map names another array) and adds per atom
``<prefix>magnetic_forces`` (-∂E/∂m, eV/μB); a long-range model
``<prefix>charges`` (latent charges, e). Frames need no labels.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from mlip_gnn.calculators import Committee
from mlip_gnn.data import DataError, KeyMap, configuration_from_atoms, optional_moments
from mlip_gnn.data.errors import unreadable
from mlip_gnn.inference import Prediction, Predictor
from mlip_gnn.utils.files import atomic_write
from mlip_gnn.utils.paths import made_folder

__all__ = ["write_predictions", "predict_file", "annotate"]


def _voigt(tensor: np.ndarray) -> np.ndarray:
    """[3, 3] → Voigt 6 in ASE order (xx, yy, zz, yz, xz, xy)."""
    t = np.asarray(tensor)
    return np.array([t[0, 0], t[1, 1], t[2, 2], t[1, 2], t[0, 2], t[0, 1]])


def annotate(atoms, prediction: Prediction, prefix: str = "MLIP_"):
    """``atoms`` with the prediction (and its uncertainty) stored in info and arrays."""
    atoms.info[f"{prefix}energy"] = float(prediction.energy)
    atoms.arrays[f"{prefix}forces"] = np.asarray(prediction.forces, dtype=np.float64)
    atoms.arrays[f"{prefix}energies"] = np.asarray(prediction.energies, dtype=np.float64)
    if prediction.stress is not None:
        atoms.info[f"{prefix}stress"] = _voigt(prediction.stress)
    if prediction.charges is not None:
        atoms.arrays[f"{prefix}charges"] = np.asarray(prediction.charges, dtype=np.float64)
    if prediction.magnetic_forces is not None:
        atoms.arrays[f"{prefix}magnetic_forces"] = np.asarray(prediction.magnetic_forces,
                                                              dtype=np.float64)
    uncertainty = prediction.uncertainty
    if uncertainty is not None:
        atoms.info[f"{prefix}energy_std"] = float(uncertainty.energy)
        atoms.arrays[f"{prefix}forces_std"] = np.asarray(uncertainty.forces, dtype=np.float64)
        atoms.info[f"{prefix}max_forces_std"] = float(np.max(uncertainty.forces, initial=0.0))
        if uncertainty.extra.get("stress_std") is not None:
            atoms.info[f"{prefix}stress_std"] = _voigt(uncertainty.extra["stress_std"])
    return atoms


def _frames(path: Path):
    import ase.io

    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        yield from enumerate(ase.io.iread(str(path), index=":"))
    except DataError:
        raise
    except Exception as exc:  # ASE raises many types for unreadable input
        raise unreadable(path, exc) from None


def write_predictions(predictor: Predictor, data: Sequence[os.PathLike], out: os.PathLike,
                      key_map: KeyMap | None = None, prefix: str = "MLIP_",
                      progress: Callable[[int], None] | None = None) -> int:
    """Predict every frame of ``data`` and write them to the extended XYZ file ``out``
    (atomically: a failed run leaves no partial file). Returns the number of frames."""
    import ase.io

    key_map = optional_moments(key_map or KeyMap())
    count = 0
    with made_folder(Path(out).parent), atomic_write(out, "w") as handle:
        for path in map(Path, data):
            for index, atoms in _frames(path):
                # checks positions and cell; labels are optional and stay as they are
                conf = configuration_from_atoms(atoms, key_map, f"{path}, frame {index}")
                annotate(atoms, predictor.predict(conf), prefix)
                ase.io.write(handle, atoms, format="extxyz")
                count += 1
                if progress is not None:
                    progress(count)
    if not count:
        raise DataError(f"{', '.join(map(str, data))}: no structures")
    return count


def predict_file(models: Sequence[str], data: os.PathLike, out: os.PathLike,
                 key_map: KeyMap | None = None, prefix: str = "MLIP_", device: str = "auto",
                 use_ema: bool = True) -> int:
    """:func:`write_predictions` of ``models`` (one, or a committee whose mean and spread
    are written: exported files, checkpoints or run dirs) for the structure file
    ``data``. Returns the number of frames."""
    committee = Committee(list(models), device=device, use_ema=use_ema)
    return write_predictions(committee, [data], out, key_map, prefix)
