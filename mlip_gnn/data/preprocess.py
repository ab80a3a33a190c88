"""Structure files → an on-disk dataset (:mod:`mlip_gnn.data.ondisk`), in parallel, resumable.

Each input file is one task for a worker process, which reads it frame by frame and
writes a shard every ``shard_size`` frames (atomically: a shard directory that exists is
complete). A finished file leaves a ``NNNNN.done.json`` marker. A rerun after a kill
skips finished files and finished shards, and gives the same dataset bit for bit: shards
and statistics depend only on the inputs and the options, which are recorded in
``preprocess.json`` at the start and must match on a rerun.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Dict, List, Sequence

import mlip_gnn
from mlip_gnn.data.configuration import Configuration, KeyMap, configuration_from_atoms
from mlip_gnn.data.errors import DataError, unreadable
from mlip_gnn.data.neighbours import neighbour_list
from mlip_gnn.data.ondisk import FORMAT, METADATA_FILE, SHARDS, write_shard
from mlip_gnn.data.summary import DatasetStatistics
from mlip_gnn.utils.files import atomic_write

__all__ = ["PreprocessOptions", "preprocess", "input_files"]

_log = logging.getLogger(__name__)
OPTIONS_FILE = "preprocess.json"


@dataclasses.dataclass(frozen=True)
class PreprocessOptions:
    """How structure files become a dataset: cutoff (Å), shard size, required labels, what to do
    with a bad frame, label keys and worker processes."""

    r_max: float  # Å, cutoff of the stored neighbour counts; training must use the same
    shard_size: int = 10_000  # frames per shard
    require: tuple = ("energy", "forces")  # labels a frame must carry
    on_error: str = "stop"  # bad frame: "stop" the run or "skip" it (named in the summary)
    key_map: KeyMap = KeyMap()
    workers: int = 1  # processes

    def recorded(self) -> dict:
        """What must not change between a run and its resumption."""
        out = dataclasses.asdict(self)
        out.pop("workers")
        out["require"] = list(self.require)
        return out


def input_files(paths: Sequence[os.PathLike]) -> List[Path]:
    """Files named, and the files (not hidden, sorted, recursively) of directories named."""
    files: List[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file()
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not found:
                raise DataError(f"{path}: directory holds no files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise DataError(f"{path}: no such file or directory")
    return [f.resolve() for f in files]


def _frame(atoms, options: PreprocessOptions, source: str):
    """One checked frame and its number of directed pairs within r_max."""
    numbers = atoms.get_atomic_numbers()
    if len(numbers) and (numbers.min() < 1 or numbers.max() > 118):
        raise DataError(f"{source}: unknown element (atomic number "
                        f"{int(numbers.min() if numbers.min() < 1 else numbers.max())})")
    conf = configuration_from_atoms(atoms, options.key_map, source,
                                    require_energy="energy" in options.require,
                                    require_forces="forces" in options.require)
    if "stress" in options.require and conf.stress is None:
        raise DataError(f"{source}: missing stress (looked for key "
                        f"'{options.key_map.stress}' and '{options.key_map.virial}')")
    edge_index, _ = neighbour_list(conf.positions, conf.cell, conf.pbc, options.r_max,
                                   source=source)
    return conf, int(edge_index.shape[1])


class _ShardWriter:
    """Collects frames of one file and writes them as shards of ``shard_size``."""

    def __init__(self, root: Path, file_index: int, path: Path, options: PreprocessOptions,
                 progress: Callable[[int], None] | None):
        self.root, self.file_index, self.path, self.options = root, file_index, path, options
        self.progress = progress
        self.frames: List[Configuration] = []
        self.edges: List[int] = []
        self.index: List[int] = []
        self.skipped: List[Dict[str, str]] = []
        self.shards: List[Dict] = []

    @property
    def name(self) -> str:
        return f"{self.file_index:05d}-{len(self.shards):05d}"

    def flush(self) -> None:
        if not self.frames:
            return
        stats = DatasetStatistics(r_max=self.options.r_max)
        for conf, edges in zip(self.frames, self.edges):
            stats.add(conf, edges)
        meta = {"source": str(self.path), "statistics": stats.to_dict(),
                "skipped": self.skipped}
        if not (self.root / SHARDS / self.name).is_dir():
            write_shard(self.root, self.name, self.frames, self.edges, self.index, meta)
        self.shards.append({"name": self.name, "frames": len(self.frames),
                            "atoms": stats.num_atoms})
        if self.progress is not None:
            self.progress(len(self.frames))
        self.frames, self.edges, self.index, self.skipped = [], [], [], []

    def bad(self, error: DataError) -> None:
        if self.options.on_error == "stop":
            raise error
        self.skipped.append({"error": str(error)})


def _convert_file(root: Path, file_index: int, path: Path, options: PreprocessOptions,
                  progress: Callable[[int], None] | None = None) -> dict:
    """Convert one input file into shards; returns (and records) its done marker."""
    import ase.io

    marker = root / SHARDS / f"{file_index:05d}.done.json"
    if marker.is_file():
        done = json.loads(marker.read_text())
        if progress is not None:
            progress(sum(s["frames"] for s in done["shards"]))
        return done
    writer = _ShardWriter(root, file_index, path, options, progress)
    frame = 0
    try:
        for frame, atoms in enumerate(ase.io.iread(str(path), index=":")):
            source = f"{path}, frame {frame}"
            try:
                conf, edges = _frame(atoms, options, source)
            except DataError as exc:
                writer.bad(exc)
                continue
            writer.frames.append(conf)
            writer.edges.append(edges)
            writer.index.append(frame)
            if len(writer.frames) == options.shard_size:
                writer.flush()
    except DataError:
        raise
    except Exception as exc:  # ASE raises many types for unreadable input
        bad = unreadable(path, exc, after_frame=frame if frame else None)
        writer.bad(DataError(f"{bad}; the rest of the file is left out"))
    writer.flush()
    if not writer.shards and not writer.skipped:
        raise DataError(f"{path}: file contains no structures")
    # frames skipped after the last shard belong to no shard: they are listed here
    done = {"file": str(path), "shards": writer.shards,
            "skipped": _skipped(root, writer.shards) + writer.skipped}
    with atomic_write(marker) as handle:
        json.dump(done, handle, indent=1)
    return done


def _skipped(root: Path, shards: Sequence[dict]) -> List[dict]:
    out: List[dict] = []
    for shard in shards:
        out.extend(json.loads((root / SHARDS / shard["name"] / "meta.json").read_text())
                   ["skipped"])
    return out


_QUEUE = None


def _init_worker(queue) -> None:
    global _QUEUE
    _QUEUE = queue


def _worker(args) -> dict:
    return _convert_file(*args, progress=_QUEUE.put)


def _check_resume(root: Path, record: dict) -> None:
    path = root / OPTIONS_FILE
    if path.is_file():
        old = json.loads(path.read_text())
        if old != record:
            changed = sorted(k for k in set(old) | set(record) if old.get(k) != record.get(k))
            raise DataError(f"{root} holds a preprocess run of other inputs or options "
                            f"(changed: {', '.join(changed)}); choose another output "
                            "directory or delete this one")
    else:
        root.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as handle:
            json.dump(record, handle, indent=1)
    (root / SHARDS).mkdir(exist_ok=True)
    for stale in (root / SHARDS).glob(".tmp-*"):  # shards a killed run left half-written
        shutil.rmtree(stale, ignore_errors=True)


class _Progress:
    def __init__(self, report: Callable[[str], None], num_files: int):
        self.report, self.num_files = report, num_files
        self.frames, self.files = 0, 0
        self.start = self.last = time.monotonic()

    def frames_done(self, count: int) -> None:
        self.frames += count
        self.show()

    def file_done(self) -> None:
        self.files += 1
        self.show(force=self.files == self.num_files)

    def show(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last > 2.0:
            self.last = now
            rate = self.frames / max(now - self.start, 1e-9)
            self.report(f"preprocess: {self.files}/{self.num_files} files, {self.frames:,} "
                        f"frames ({rate:,.0f} frames/s)")


def preprocess(inputs: Sequence[os.PathLike], output: os.PathLike,
               options: PreprocessOptions,
               report: Callable[[str], None] = _log.info) -> dict:
    """Convert ``inputs`` (files, directories) into the dataset directory ``output``;
    returns its metadata. Raises :class:`DataError` for a bad frame with
    ``on_error="stop"``: a directory this call created is removed (the fixed data would be
    other inputs, which it could not resume); one that held a killed run keeps its shards.
    A killed run is continued by the same call."""
    if options.on_error not in ("stop", "skip"):
        raise DataError(f"on_error: got {options.on_error!r}; use 'stop' or 'skip'")
    files = input_files(inputs)
    root = Path(output)
    fresh = not root.exists()
    try:
        return _preprocess(files, root, options, report)
    except DataError:
        if fresh:
            shutil.rmtree(root, ignore_errors=True)
        raise


def _preprocess(files: List[Path], root: Path, options: PreprocessOptions,
                report: Callable[[str], None]) -> dict:
    record = {"inputs": [{"path": str(f), "bytes": f.stat().st_size,
                          "mtime_ns": f.stat().st_mtime_ns} for f in files],
              "options": options.recorded()}
    _check_resume(root, record)
    already = len(list((root / SHARDS).glob("[0-9]*-*")))
    if already:
        report(f"preprocess: resuming, {already} finished shard(s) kept")
    tasks = [(root, i, f, options) for i, f in enumerate(files)]
    progress = _Progress(report, len(files))
    done: List[dict] = []
    if options.workers <= 1 or len(files) == 1:
        for task in tasks:
            done.append(_convert_file(*task, progress=progress.frames_done))
            progress.file_done()
    else:
        done = _run_pool(tasks, options.workers, progress)
    return _write_metadata(root, done, options, record)


def _run_pool(tasks, workers: int, progress: _Progress) -> List[dict]:
    ctx = multiprocessing.get_context("spawn")  # no fork of a process holding threads
    queue = ctx.Queue()
    with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=ctx,
                             initializer=_init_worker, initargs=(queue,)) as pool:
        futures = [pool.submit(_worker, task) for task in tasks]
        pending = set(range(len(futures)))
        while pending:
            while not queue.empty():
                progress.frames_done(queue.get())
            for i in sorted(pending):
                if futures[i].done():
                    futures[i].result()  # a worker's DataError stops the run here
                    pending.discard(i)
                    progress.file_done()
            time.sleep(0.05)
        while not queue.empty():
            progress.frames_done(queue.get())
        return [f.result() for f in futures]


def _write_metadata(root: Path, done: Sequence[dict], options: PreprocessOptions,
                    record: dict) -> dict:
    stats = DatasetStatistics(r_max=options.r_max)
    shards: List[dict] = []
    skipped: List[dict] = []
    for marker in done:
        skipped.extend(marker["skipped"])
        for shard in marker["shards"]:
            meta = json.loads((root / SHARDS / shard["name"] / "meta.json").read_text())
            stats = stats.merge(DatasetStatistics.from_dict(meta["statistics"]))
            shards.append({**shard, "source": marker["file"]})
    if not shards:
        raise DataError(f"{root}: no usable frame in the inputs ({len(skipped)} skipped)")
    metadata = {"format": FORMAT, "version": mlip_gnn.__version__, "r_max": options.r_max,
                "num_frames": stats.num_frames, "num_atoms": stats.num_atoms,
                "species": stats.zs, "statistics": stats.to_dict(), "shards": shards,
                "skipped": skipped, **record}
    with atomic_write(root / METADATA_FILE) as handle:
        json.dump(metadata, handle, indent=1)
    return metadata
