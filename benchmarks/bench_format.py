"""Which on-disk format for random access to frames: memory-mapped .npy, HDF5 or LMDB?

Writes the same frames (8-atom cells: positions, numbers, forces, cell, energy) in three
layouts and times random single-frame reads, the access pattern of a shuffled training
epoch; then times building a graph from a frame (neighbour list on the fly) against
reading a stored neighbour list. h5py and lmdb are needed only here:

    pip install h5py lmdb
    OMP_NUM_THREADS=1 python benchmarks/bench_format.py --frames 50000
"""

from __future__ import annotations

import argparse
import pickle
import tempfile
import time
from pathlib import Path

import numpy as np


def make_frames(n: int, rng: np.random.Generator):
    atoms = 8
    grid = 3.6 * np.stack(np.meshgrid([0, 1], [0, 1], [0, 1]), -1).reshape(atoms, 3)
    positions = np.tile(grid, (n, 1)) + rng.normal(0.0, 0.1, (n * atoms, 3))
    return {"positions": positions,
            "forces": rng.normal(size=(n * atoms, 3)),
            "numbers": np.full(n * atoms, 29, dtype=np.uint8),
            "cell": np.tile(np.eye(3) * 7.2, (n, 1, 1)), "energy": rng.normal(size=n),
            "atom_ptr": np.arange(0, (n + 1) * atoms, atoms)}


def write_npy(d: Path, data) -> None:
    for key, value in data.items():
        np.save(d / f"{key}.npy", value)


def read_npy(d: Path):
    maps = {k: np.load(d / f"{k}.npy", mmap_mode="r") for k in
            ("positions", "forces", "numbers", "cell", "energy", "atom_ptr")}

    def read(i):
        lo, hi = int(maps["atom_ptr"][i]), int(maps["atom_ptr"][i + 1])
        return (np.array(maps["positions"][lo:hi]), np.array(maps["forces"][lo:hi]),
                np.array(maps["numbers"][lo:hi]), np.array(maps["cell"][i]),
                float(maps["energy"][i]))
    return read


def write_h5(path: Path, data) -> None:
    import h5py

    with h5py.File(path, "w") as f:
        for key, value in data.items():
            f.create_dataset(key, data=value, chunks=True)


def read_h5(path: Path):
    import h5py

    f = h5py.File(path, "r")
    ptr = f["atom_ptr"][:]

    def read(i):
        lo, hi = int(ptr[i]), int(ptr[i + 1])
        return (f["positions"][lo:hi], f["forces"][lo:hi], f["numbers"][lo:hi],
                f["cell"][i], float(f["energy"][i]))
    return read


def write_lmdb(path: Path, data) -> None:
    import lmdb

    n = len(data["energy"])
    env = lmdb.open(str(path), map_size=1 << 34, subdir=True)
    with env.begin(write=True) as txn:
        for i in range(n):
            lo, hi = data["atom_ptr"][i], data["atom_ptr"][i + 1]
            record = (data["positions"][lo:hi], data["forces"][lo:hi],
                      data["numbers"][lo:hi], data["cell"][i], float(data["energy"][i]))
            txn.put(str(i).encode(), pickle.dumps(record, protocol=5))
    env.close()


def read_lmdb(path: Path):
    import lmdb

    env = lmdb.open(str(path), readonly=True, lock=False, subdir=True)
    txn = env.begin()

    def read(i):
        return pickle.loads(txn.get(str(i).encode()))
    return read


def time_reads(read, n: int, count: int, rng) -> float:
    order = rng.integers(0, n, count)
    start = time.perf_counter()
    for i in order:
        read(int(i))
    return (time.perf_counter() - start) / count * 1e6


def graph_costs(read, n: int, count: int, rng) -> tuple:
    """µs per frame: graph with a fresh neighbour list; graph from a stored edge list."""
    import torch

    from mlip_gnn.data import Configuration, SpeciesTable, graph_from_configuration
    from mlip_gnn.data.neighbours import neighbour_list

    species = SpeciesTable([29])
    order = rng.integers(0, n, count)
    confs = []
    for i in order:
        pos, forces, numbers, cell, energy = read(int(i))
        confs.append(Configuration(numbers.astype(np.int64), np.array(pos),
                                   np.array(cell), np.ones(3, bool), energy, np.array(forces)))
    stored = [neighbour_list(c.positions, c.cell, c.pbc, 4.5) for c in confs]
    start = time.perf_counter()
    for c in confs:
        graph_from_configuration(c, 4.5, species, torch.float32)
    fresh = (time.perf_counter() - start) / count * 1e6
    start = time.perf_counter()
    for edge_index, shifts in stored:
        # what reading a stored list costs at least: the tensors a graph holds for edges
        torch.from_numpy(np.array(edge_index)), torch.tensor(shifts, dtype=torch.float32)
    edges_only = (time.perf_counter() - start) / count * 1e6
    start = time.perf_counter()
    for c in confs:
        neighbour_list(c.positions, c.cell, c.pbc, 4.5)
    nl = (time.perf_counter() - start) / count * 1e6
    return fresh, nl, edges_only, float(np.mean([len(s[1]) for s in stored]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=50_000)
    parser.add_argument("--reads", type=int, default=5_000)
    parser.add_argument("--out", default="benchmarks/results/format_cpu.md")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    data = make_frames(args.frames, rng)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, write, read, target in (
                ("memory-mapped .npy", write_npy, read_npy, root / "npy"),
                ("HDF5 (h5py, chunked)", write_h5, read_h5, root / "data.h5"),
                ("LMDB (pickled frames)", write_lmdb, read_lmdb, root / "lmdb")):
            if name.startswith("memory"):
                target.mkdir()
            start = time.perf_counter()
            write(target, data)
            write_s = time.perf_counter() - start
            reader = read(target)
            time_reads(reader, args.frames, 200, rng)  # warm the page cache alike
            rows.append((name, write_s, time_reads(reader, args.frames, args.reads, rng)))
        fresh, nl, edges, mean_edges = graph_costs(read_npy(root / "npy"), args.frames,
                                                   1000, rng)
    lines = [f"# On-disk format: random single-frame reads ({args.frames:,} frames of 8 atoms)",
             "", "| format | write s | µs per random frame read |", "|---|---:|---:|"]
    lines += [f"| {name} | {w:.2f} | {r:.1f} |" for name, w, r in rows]
    lines += ["", f"Graph of one frame (r_max 4.5 Å, {mean_edges:.0f} edges): "
              f"{fresh:.0f} µs built on the fly, of which the neighbour list {nl:.0f} µs; "
              f"turning a stored edge list into tensors alone {edges:.0f} µs.",
              "One thread, CPU shared with other work; page cache warm."]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
