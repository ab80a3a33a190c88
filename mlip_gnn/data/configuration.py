"""Reading labelled structures from any file ASE reads into plain numpy records."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import List, Sequence

import numpy as np

from mlip_gnn.data.errors import DataError, unreadable

__all__ = ["KeyMap", "Configuration", "read_configurations", "read_many",
           "configuration_from_atoms", "optional_moments"]


@dataclasses.dataclass(frozen=True)
class KeyMap:
    """Where each label lives in the file. ``None`` means: do not read it.

    ASE >= 3.23 moves ``energy``, ``forces`` and ``stress`` of an extended XYZ file into
    ``atoms.calc.results``; any other name (``REF_energy``, ``force``) stays in
    ``atoms.info`` / ``atoms.arrays``. Both places are searched.
    """

    energy: str | None = "energy"
    forces: str | None = "forces"
    stress: str | None = "stress"
    virial: str | None = "virial"
    weight: str | None = "config_weight"
    config_type: str | None = "config_type"
    #: per-atom collinear moments (μB); when set, every frame must carry them (unless
    #: ``magmoms_required`` is False: then they are read where present)
    magmoms: str | None = None
    #: per-atom -∂E/∂m labels (eV/μB), read where present (only with ``magmoms``)
    magnetic_forces: str | None = None
    magmoms_required: bool = True
    #: the frame's total charge (e) in ``atoms.info``; a frame without it is neutral
    charge: str | None = "charge"
    #: per-atom charge labels (e), read where present (fitted by long-range models)
    charges: str | None = None


def optional_moments(key_map: KeyMap) -> KeyMap:
    """``key_map`` that reads moments where a frame has them (``initial_magmoms`` unless
    named): for inference, where a spin model refuses a frame without them and a
    spin-free one ignores them."""
    return dataclasses.replace(key_map, magmoms=key_map.magmoms or "initial_magmoms",
                               magmoms_required=False)


@dataclasses.dataclass
class Configuration:
    """One labelled structure. Units: Å, eV, eV/Å, eV/Å³ (ASE sign: positive = tensile)."""

    atomic_numbers: np.ndarray  # [n] int
    positions: np.ndarray  # [n, 3] Å
    cell: np.ndarray  # [3, 3] Å, rows are lattice vectors
    pbc: np.ndarray  # [3] bool
    energy: float | None = None  # eV, total
    forces: np.ndarray | None = None  # [n, 3] eV/Å
    stress: np.ndarray | None = None  # [3, 3] eV/Å³
    weight: float = 1.0
    config_type: str = "default"
    source: str = "<memory>"  # "file.xyz, frame 3": used in error messages
    magmoms: np.ndarray | None = None  # [n] μB, collinear magnetic moments
    magnetic_forces: np.ndarray | None = None  # [n] eV/μB, -∂E/∂m
    charge: float = 0.0  # e, total charge of the frame (long-range models honour it)
    atomic_charges: np.ndarray | None = None  # [n] e, per-atom charge labels

    @property
    def num_atoms(self) -> int:
        """Number of atoms in the frame."""
        return len(self.atomic_numbers)


def _lookup(atoms, key: str, per_atom: bool):
    results = getattr(atoms.calc, "results", {}) if atoms.calc is not None else {}
    if key in results:
        return results[key]
    store = atoms.arrays if per_atom else atoms.info
    return store.get(key)


def _as_stress(value, where: str) -> np.ndarray:
    """Voigt 6 (xx yy zz yz xz xy, ASE order) or 9 components → [3, 3]."""
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size == 6:
        xx, yy, zz, yz, xz, xy = arr
        return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    if arr.size == 9:
        return arr.reshape(3, 3)
    raise DataError(f"{where}: stress must have 6 or 9 components, got {arr.size}")


def _check_finite(name: str, value, where: str) -> None:
    if not np.all(np.isfinite(value)):
        raise DataError(f"{where}: field '{name}' contains NaN or Inf")


def _per_atom_scalars(atoms, key: str, source: str, required: bool) -> np.ndarray | None:
    """A per-atom scalar array [n] (collinear moments, their derivatives, charges)."""
    value = _lookup(atoms, key, per_atom=True)
    if value is None:
        if required:
            raise DataError(f"{source}: no magnetic moments: the per-atom array '{key}' is "
                            "missing (model.spin: collinear needs them in every frame; "
                            "name the array with data.keys.magmoms)")
        return None
    value = np.asarray(value, dtype=np.float64)
    if value.shape != (len(atoms),):
        raise DataError(f"{source}: field '{key}' has shape {value.shape}, expected "
                        f"({len(atoms)},): one value per atom")
    _check_finite(key, value, source)
    return value


def _total_charge(value, key: str, source: str) -> float:
    """``atoms.info[key]`` as a finite total charge (e)."""
    try:
        charge = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{source}: total charge '{key}' is not a number: {value!r}") from None
    if not math.isfinite(charge):
        raise DataError(f"{source}: total charge '{key}' is not finite ({charge})")
    return charge


def configuration_from_atoms(atoms, key_map: KeyMap = KeyMap(), source: str = "<memory>",
                             require_energy: bool = False,
                             require_forces: bool = False) -> Configuration:
    """Convert one ``ase.Atoms`` into a :class:`Configuration`, checking every field."""
    positions = np.asarray(atoms.get_positions(), dtype=np.float64)
    _check_finite("positions", positions, source)
    cell = np.asarray(atoms.get_cell()[:], dtype=np.float64)
    _check_finite("cell", cell, source)
    pbc = np.asarray(atoms.get_pbc(), dtype=bool)
    if pbc.any():
        periodic = cell[pbc]
        if np.linalg.matrix_rank(periodic, tol=1e-6) < periodic.shape[0]:
            raise DataError(f"{source}: periodic cell has zero volume (cell={cell.tolist()})")
    if len(atoms) == 0:
        raise DataError(f"{source}: frame has no atoms")

    conf = Configuration(
        atomic_numbers=np.asarray(atoms.get_atomic_numbers(), dtype=np.int64),
        positions=positions, cell=cell, pbc=pbc, source=source)

    if key_map.energy is not None:
        energy = _lookup(atoms, key_map.energy, per_atom=False)
        if energy is not None:
            try:
                conf.energy = float(energy)
            except (TypeError, ValueError):
                raise DataError(f"{source}: field '{key_map.energy}' is not a number: "
                                f"{energy!r}") from None
            if not math.isfinite(conf.energy):
                raise DataError(f"{source}: field '{key_map.energy}' is NaN or Inf")
    if key_map.forces is not None:
        forces = _lookup(atoms, key_map.forces, per_atom=True)
        if forces is not None:
            forces = np.asarray(forces, dtype=np.float64)
            if forces.shape != positions.shape:
                raise DataError(f"{source}: field '{key_map.forces}' has shape "
                                f"{forces.shape}, expected {positions.shape}")
            _check_finite(key_map.forces, forces, source)
            conf.forces = forces
    stress = _lookup(atoms, key_map.stress, False) if key_map.stress is not None else None
    if stress is not None:
        conf.stress = _as_stress(stress, source)
        _check_finite(key_map.stress, conf.stress, source)
    elif key_map.virial is not None:
        virial = _lookup(atoms, key_map.virial, per_atom=False)
        if virial is not None:
            # virial W = -V σ (eV); converted explicitly to stress in eV/Å³
            volume = abs(np.linalg.det(cell))
            if volume <= 0.0:
                raise DataError(f"{source}: virial given but the cell has zero volume")
            conf.stress = -_as_stress(virial, source) / volume
            _check_finite(key_map.virial, conf.stress, source)
    if key_map.weight is not None and key_map.weight in atoms.info:
        try:
            conf.weight = float(atoms.info[key_map.weight])
        except (TypeError, ValueError):
            raise DataError(f"{source}: weight '{key_map.weight}' is not a number") from None
        if not (math.isfinite(conf.weight) and conf.weight >= 0.0):
            raise DataError(f"{source}: weight '{key_map.weight}' must be finite and >= 0")
    if key_map.config_type is not None and key_map.config_type in atoms.info:
        conf.config_type = str(atoms.info[key_map.config_type])

    if key_map.charge is not None and key_map.charge in atoms.info:
        conf.charge = _total_charge(atoms.info[key_map.charge], key_map.charge, source)
    if key_map.charges is not None:
        conf.atomic_charges = _per_atom_scalars(atoms, key_map.charges, source, required=False)
    if key_map.magmoms is not None:
        conf.magmoms = _per_atom_scalars(atoms, key_map.magmoms, source,
                                         required=bool(key_map.magmoms_required))
        if key_map.magnetic_forces is not None and conf.magmoms is not None:
            conf.magnetic_forces = _per_atom_scalars(atoms, key_map.magnetic_forces, source,
                                                     required=False)
    if require_energy and conf.energy is None:
        raise DataError(f"{source}: missing energy (looked for key '{key_map.energy}')")
    if require_forces and conf.forces is None:
        raise DataError(f"{source}: missing forces (looked for key '{key_map.forces}')")
    return conf


def read_configurations(path, key_map: KeyMap = KeyMap(), index: str = ":",
                        require_energy: bool = False,
                        require_forces: bool = False) -> List[Configuration]:
    """Read every frame of ``path`` (any format ASE reads) as :class:`Configuration`.

    Raises :class:`DataError` naming file, frame and field for a missing or unreadable file,
    an empty file, a missing required label, non-finite numbers or a zero-volume cell.
    """
    import ase.io  # data layer only: the model never imports ASE

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    try:
        frames = ase.io.read(str(path), index=index)
    except Exception as exc:  # ASE raises many types for unreadable input
        past_end = index != ":" and isinstance(exc, (StopIteration, IndexError))
        raise (_no_such_frame(path, index) if past_end else unreadable(path, exc)) from None
    if not isinstance(frames, list):
        frames = [frames]
    if not frames:
        raise DataError(f"{path}: file contains no structures")
    return [configuration_from_atoms(atoms, key_map, f"{path}, frame {i}",
                                     require_energy, require_forces)
            for i, atoms in enumerate(frames)]


def _no_such_frame(path: Path, index: str) -> DataError:
    """A frame index past the end of the file, or the file's own error if it is unreadable."""
    import ase.io

    try:
        count = sum(1 for _ in ase.io.iread(str(path), index=":"))
    except Exception as other:  # ASE raises many types for unreadable input
        return unreadable(path, other)
    return DataError(f"{path}: no frame {index}: the file has {count} frame(s) "
                     f"(0 to {count - 1}, or -1 for the last)")


def read_many(paths: Sequence, key_map: KeyMap = KeyMap(), **kwargs) -> List[Configuration]:
    """Read and concatenate several files."""
    configs: List[Configuration] = []
    for path in paths:
        configs.extend(read_configurations(path, key_map, **kwargs))
    return configs
