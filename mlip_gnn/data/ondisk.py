"""The on-disk dataset: shards of plain numpy arrays, read by memory mapping.

Layout of a dataset directory (written by :mod:`mlip_gnn.data.preprocess`)::

    DATASET_DIR/dataset.json        totals, statistics, shard list (written last)
    DATASET_DIR/shards/NNNNN-KKKKK/ one shard: frames KKKKK·size.. of input file NNNNN
        arrays.bin     the arrays below, one after the other (64-byte aligned)
        meta.json      their offsets, dtypes and shapes; source file, config type names,
                       statistics of the shard, frames skipped

    atom_ptr   [F + 1] int64, first atom of each frame
    numbers    [A] uint8, atomic numbers
    positions  [A, 3] float64, Å
    forces     [A, 3] float64, eV/Å (zeros where absent)
    cell       [F, 3, 3] float64, Å               pbc     [F, 3] bool
    energy     [F] float64, eV                    stress  [F, 3, 3] float64, eV/Å³
    labels     [F, 3] bool, has energy / forces / stress
    weight     [F] float64                        config_type [F] int32 (names in meta)
    num_edges  [F] int64, pairs within the dataset's r_max
    frame      [F] int64, frame index in the input file

Memory-mapped arrays were chosen over LMDB and HDF5 by measurement
(``benchmarks/bench_format.py``): random single-frame reads are fastest, they need no extra
dependency, and a map opened in a DataLoader worker after it started is safe by
construction. One file per shard keeps an open shard at one file descriptor and makes
opening one cheap, so that random access over many shards stays fast.
"""

from __future__ import annotations

import copy
import json
import mmap
import os
import shutil
from collections import OrderedDict
from pathlib import Path
from typing import Dict, Iterator, List, Sequence

import numpy as np

from mlip_gnn.data.configuration import Configuration
from mlip_gnn.data.errors import DataError
from mlip_gnn.data.summary import DatasetStatistics
from mlip_gnn.utils.files import atomic_write, fsync_dir

__all__ = ["FORMAT", "METADATA_FILE", "is_dataset_dir", "write_shard", "DiskFrames"]

FORMAT = "mlip_gnn.ondisk/1"
METADATA_FILE = "dataset.json"
SHARDS = "shards"


def is_dataset_dir(path: os.PathLike) -> bool:
    """True if ``path`` is a directory made by ``mlip-gnn preprocess``."""
    return (Path(path) / METADATA_FILE).is_file()


def write_shard(root: Path, name: str, frames: Sequence[Configuration],
                num_edges: Sequence[int], frame_index: Sequence[int], meta: dict) -> None:
    """Write one shard to ``root/shards/name`` atomically: built in a temporary directory
    and renamed, so a shard directory that exists is complete."""
    shards = root / SHARDS
    tmp = shards / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    types = sorted({c.config_type for c in frames})
    sizes = np.array([c.num_atoms for c in frames], dtype=np.int64)
    arrays = {
        "atom_ptr": np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        "numbers": np.concatenate([c.atomic_numbers for c in frames]).astype(np.uint8),
        "positions": np.concatenate([c.positions for c in frames]).reshape(-1, 3),
        "forces": np.concatenate([c.forces if c.forces is not None
                                  else np.zeros((c.num_atoms, 3)) for c in frames]),
        "cell": np.stack([c.cell for c in frames]),
        "pbc": np.stack([c.pbc for c in frames]).astype(bool),
        "energy": np.array([c.energy if c.energy is not None else 0.0 for c in frames]),
        "stress": np.stack([c.stress if c.stress is not None else np.zeros((3, 3))
                            for c in frames]),
        "labels": np.array([[c.energy is not None, c.forces is not None,
                             c.stress is not None] for c in frames], dtype=bool),
        "weight": np.array([c.weight for c in frames], dtype=np.float64),
        "charge": np.array([c.charge for c in frames], dtype=np.float64),
        "config_type": np.array([types.index(c.config_type) for c in frames], dtype=np.int32),
        "num_edges": np.asarray(num_edges, dtype=np.int64),
        "frame": np.asarray(frame_index, dtype=np.int64),
    }
    if any(c.atomic_charges is not None for c in frames):  # per-atom charge labels
        arrays["atomic_charges"] = np.concatenate(
            [c.atomic_charges if c.atomic_charges is not None else np.zeros(c.num_atoms)
             for c in frames])
        arrays["has_atomic_charges"] = np.array([c.atomic_charges is not None
                                                 for c in frames], dtype=bool)
    layout, offset = {}, 0
    with open(tmp / "arrays.bin", "wb") as handle:
        for key, value in arrays.items():
            value = np.ascontiguousarray(value)
            pad = -offset % 64
            handle.write(b"\0" * pad)
            offset += pad
            layout[key] = {"offset": offset, "dtype": value.dtype.str,
                           "shape": list(value.shape)}
            handle.write(value.tobytes())
            offset += value.nbytes
    with atomic_write(tmp / "meta.json") as handle:
        json.dump({**meta, "config_types": types, "arrays": layout}, handle, indent=1)
    for path in tmp.iterdir():
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
    os.rename(tmp, shards / name)
    fsync_dir(shards)


def _shard_meta(path: Path) -> dict:
    """What reading a shard needs of its ``meta.json``."""
    meta = json.loads((path / "meta.json").read_text())
    return {key: meta[key] for key in ("source", "config_types", "arrays")}


class _Shard:
    """Read-only views of one shard's arrays, on one memory map of its file."""

    def __init__(self, path: Path, meta: dict):
        with open(path / "arrays.bin", "rb") as handle:
            buffer = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        self.arrays = {key: np.ndarray(tuple(spec["shape"]), np.dtype(spec["dtype"]),
                                       buffer=buffer, offset=spec["offset"])
                       for key, spec in meta["arrays"].items()}
        self.meta = meta


class DiskFrames:
    """Random access to the frames of one or several dataset directories, as
    :class:`Configuration`; nothing but the per-frame sizes is held in memory.

    At most ``max_open`` shards are memory-mapped at once (least recently used closed
    first), so neither open files nor mapped pages grow with the dataset. Maps are
    opened lazily, in whichever process reads (DataLoader workers included).
    """

    def __init__(self, directories: Sequence[os.PathLike], max_open: int = 64):
        self.directories = [Path(d) for d in directories]
        self.metadata = [read_metadata(d) for d in self.directories]
        self._shard_paths: List[Path] = []
        counts: List[int] = []
        for directory, meta in zip(self.directories, self.metadata):
            for shard in meta["shards"]:
                self._shard_paths.append(directory / SHARDS / shard["name"])
                counts.append(int(shard["frames"]))
        self._starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.dataset_sizes = [int(m["num_frames"]) for m in self.metadata]
        self.max_open = max_open
        self._open: OrderedDict[int, _Shard] = OrderedDict()
        self._metas: Dict[int, dict] = {}  # small, read once per shard
        self._select: np.ndarray | None = None  # a subset: its frames' global indices
        self._statistics: DatasetStatistics | None = None

    def subset(self, indices: Sequence[int], statistics: DatasetStatistics) -> DiskFrames:
        """The frames at ``indices`` (in that order), whose statistics are ``statistics``."""
        out = copy.copy(self)
        out._open = OrderedDict()
        out._select = self._global(np.asarray(indices, dtype=np.int64))
        out._statistics = statistics
        group = np.repeat(np.arange(len(self.metadata)), self._group_totals())
        out.dataset_sizes = np.bincount(group[out._select],
                                        minlength=len(self.metadata)).tolist()
        return out

    def _group_totals(self) -> List[int]:
        return [int(m["num_frames"]) for m in self.metadata]

    def _global(self, indices: np.ndarray) -> np.ndarray:
        return indices if self._select is None else self._select[indices]

    def __len__(self) -> int:
        return int(self._starts[-1]) if self._select is None else len(self._select)

    def __iter__(self) -> Iterator[Configuration]:  # reads every frame: for small sets
        return (self[i] for i in range(len(self)))

    def __getstate__(self) -> dict:  # maps are not pickled: a worker opens its own
        return {**self.__dict__, "_open": OrderedDict(), "_metas": {}}

    @property
    def r_max(self) -> float:
        """Cutoff (Å) the stored neighbour counts were made with."""
        return float(self.metadata[0]["r_max"])

    def statistics(self) -> DatasetStatistics:
        """Statistics of the frames: for whole directories, merged from what ``preprocess``
        stored; for a subset, as given to :meth:`subset`."""
        if self._statistics is not None:
            return self._statistics
        stats = DatasetStatistics()
        for meta in self.metadata:
            stats = stats.merge(DatasetStatistics.from_dict(meta["statistics"]))
        return stats

    def _meta(self, index: int) -> dict:
        if index not in self._metas:
            self._metas[index] = _shard_meta(self._shard_paths[index])
        return self._metas[index]

    def _shard(self, index: int) -> _Shard:
        shard = self._open.pop(index, None)
        if shard is None:
            shard = _Shard(self._shard_paths[index], self._meta(index))
            while len(self._open) >= self.max_open:
                self._open.popitem(last=False)
        self._open[index] = shard
        return shard

    def _locate(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"frame {index} out of range for {len(self)} frames")
        if self._select is not None:
            index = int(self._select[index])
        s = int(np.searchsorted(self._starts, index, side="right") - 1)
        return s, index - int(self._starts[s])

    def per_frame(self, key: str) -> np.ndarray:
        """A per-frame array (``num_edges``, ``weight``, ...) over all frames, [N]; the
        number of atoms is ``num_atoms``. Reads one small array per shard."""
        parts = []
        for s, path in enumerate(self._shard_paths):
            arrays = _Shard(path, self._meta(s)).arrays
            parts.append(np.diff(arrays["atom_ptr"]) if key == "num_atoms"
                         else np.array(arrays[key]))
        values = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        return values if self._select is None else values[self._select]

    def config_types(self) -> np.ndarray:
        """Config type name of every frame, [N] object array."""
        parts = []
        for s, path in enumerate(self._shard_paths):
            names = np.array(self._meta(s)["config_types"], dtype=object)
            parts.append(names[_Shard(path, self._meta(s)).arrays["config_type"]])
        values = np.concatenate(parts) if parts else np.zeros(0, dtype=object)
        return values if self._select is None else values[self._select]

    def __getitem__(self, index: int) -> Configuration:
        s, j = self._locate(int(index))
        shard = self._shard(s)
        a = shard.arrays
        lo, hi = int(a["atom_ptr"][j]), int(a["atom_ptr"][j + 1])
        has_energy, has_forces, has_stress = (bool(v) for v in a["labels"][j])
        charges = (np.array(a["atomic_charges"][lo:hi])
                   if "has_atomic_charges" in a and a["has_atomic_charges"][j] else None)
        return Configuration(
            atomic_numbers=np.array(a["numbers"][lo:hi], dtype=np.int64),
            positions=np.array(a["positions"][lo:hi]),
            cell=np.array(a["cell"][j]), pbc=np.array(a["pbc"][j]),
            energy=float(a["energy"][j]) if has_energy else None,
            forces=np.array(a["forces"][lo:hi]) if has_forces else None,
            stress=np.array(a["stress"][j]) if has_stress else None,
            weight=float(a["weight"][j]),
            # shards written before total charges were stored hold neutral frames
            charge=float(a["charge"][j]) if "charge" in a else 0.0,
            atomic_charges=charges,
            config_type=shard.meta["config_types"][int(a["config_type"][j])],
            source=f"{shard.meta['source']}, frame {int(a['frame'][j])}")


def read_metadata(directory: os.PathLike) -> Dict:
    """``dataset.json`` of a dataset directory, checked for format and completeness."""
    path = Path(directory) / METADATA_FILE
    if not path.is_file():
        raise DataError(f"{directory}: not a preprocessed dataset (no {METADATA_FILE}; "
                        "make one with mlip-gnn preprocess, or an unfinished run: rerun it)")
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable ({exc})") from None
    if meta.get("format") != FORMAT:
        raise DataError(f"{path}: format {meta.get('format')!r}, this version reads "
                        f"{FORMAT!r}; preprocess the data again")
    return meta


def check_r_max(frames: DiskFrames, r_max: float, field: str | None = None) -> None:
    """The neighbour counts of a dataset hold for its r_max only."""
    for directory, meta in zip(frames.directories, frames.metadata):
        if float(meta["r_max"]) != float(r_max):
            raise DataError(f"{directory}: preprocessed with r_max {meta['r_max']} Å but "
                            f"{field or 'r_max'} is {r_max} Å; preprocess again with "
                            f"--r-max {r_max}")
