"""Protocol shared by the benchmark workers: structures, model sizes, timing, memory.

Imported by ``ours_worker.py`` and by ``mace_worker.py``, which runs in another virtual
environment; so it needs only numpy, torch and ASE, never ``mlip_gnn``.
"""

import argparse
import json
import resource
import statistics
import time
from typing import Callable, Dict, Tuple

import numpy as np
import torch
from ase import Atoms
from ase.build import bulk

__all__ = ["SIZES", "R_MAX", "worker_args", "make_atoms", "Meter", "time_calls", "median_ms",
           "num_params", "check_forces", "training_loss", "write_predictions", "emit"]

R_MAX = 5.0  # Å
LATTICE_CU = 3.61  # Å, fcc Cu
# name -> hyperparameters of *our* model; mace_worker.py maps each to its closest MACE
SIZES: Dict[str, dict] = {
    "small": dict(num_channels=32, max_ell=1, hidden_ell=1, correlation=2, num_layers=2),
    "medium": dict(num_channels=128, max_ell=3, hidden_ell=1, correlation=3, num_layers=2),
    # the size of the accuracy benchmark (bench_accuracy.py)
    "medium64": dict(num_channels=64, max_ell=3, hidden_ell=1, correlation=3, num_layers=2),
    # small with latent-charge electrostatics (model.long_range), PME or Ewald sums
    "small_lr": dict(num_channels=32, max_ell=1, hidden_ell=1, correlation=2, num_layers=2,
                     long_range="latent", lr_kspace="pme"),
    "small_lr_ewald": dict(num_channels=32, max_ell=1, hidden_ell=1, correlation=2,
                           num_layers=2, long_range="latent", lr_kspace="ewald"),
}


def worker_args() -> argparse.Namespace:
    """Command line of one worker run: one model size on one supercell."""
    p = argparse.ArgumentParser()
    p.add_argument("--size", choices=sorted(SIZES), required=True)
    p.add_argument("--cells", type=int, required=True, help="fcc cubic cells per side")
    p.add_argument("--device", default="cpu")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--budget-s", type=float, default=30.0,
                   help="fewer repeats when the warm-up call says they would take longer")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--mode", choices=["infer", "train"], default="infer",
                   help="infer: energy + forces; train: one training step (energy + force "
                        "loss, backward through the forces to the parameters)")
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    return args


def make_atoms(cells: int, seed: int = 0) -> Atoms:
    """fcc Cu, cells³ conventional cells (4·cells³ atoms), rattled by 0.01 Å."""
    atoms = bulk("Cu", "fcc", a=LATTICE_CU, cubic=True).repeat((cells, cells, cells))
    atoms.rattle(stdev=0.01, seed=seed)
    return atoms


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


class Meter:
    """Peak memory of the calls made after construction, beyond what was resident then.

    CPU: ru_maxrss (the process's high-water mark; run each case in a fresh process) minus
    the resident set before the first call. CUDA: torch.cuda.max_memory_allocated minus
    the memory allocated before the first call (allocator cache excluded).
    """

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base_mb = torch.cuda.memory_allocated() / 2**20
        else:
            self.base_mb = _current_rss_mb()

    def peak_total_mb(self) -> float:
        if self.cuda:
            return torch.cuda.max_memory_allocated() / 2**20
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KiB on Linux

    def peak_delta_mb(self) -> float:
        return self.peak_total_mb() - self.base_mb


def time_calls(fn: Callable[[], object], device: torch.device, warmup: int, repeats: int,
               budget_s: float) -> Dict[str, object]:
    """Median wall time (ms) of ``fn`` after ``warmup`` calls; synchronised on CUDA.

    Also the median CPU time of this process per call (``cpu_ms``, all threads), which
    other processes on a shared machine disturb less than the wall time. A call slower
    than ``budget_s`` ends the warm-up, and the repeats are cut to take about
    ``budget_s`` (at least one), so the slow CPU cases get one warm-up and one repeat.
    """
    def timed() -> Tuple[float, float]:
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - wall, time.process_time() - cpu

    last, done = 0.0, 0
    while done < warmup and (done == 0 or last <= budget_s):
        last, _ = timed()
        done += 1
    if last > 0.0:
        repeats = max(1, min(repeats, int(budget_s / last)))
    walls, cpus = zip(*[timed() for _ in range(repeats)])
    return {"ms": 1e3 * statistics.median(walls), "ms_all": [1e3 * t for t in walls],
            "cpu_ms": 1e3 * statistics.median(cpus), "repeats": repeats, "warmup": done}


def median_ms(fn: Callable[[], object], repeats: int = 3) -> float:
    """Median wall time (ms) of a cheap host-side step such as a neighbour list."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def num_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def emit(record: dict) -> None:
    """The worker's result: one JSON line on stdout, last."""
    record.update(torch=torch.__version__, threads=torch.get_num_threads(),
                  num_edges_per_atom=float(record["num_edges"]) / record["num_atoms"])
    print(json.dumps(record), flush=True)


def training_loss(energy: torch.Tensor, forces: torch.Tensor) -> torch.Tensor:
    """The loss both workers differentiate in ``--mode train``: E² + mean F²."""
    return energy.square().sum() + forces.square().mean()


def write_predictions(calc, test: str, out: str) -> int:
    """Energy and forces of ``calc`` (any ASE calculator) on every frame of ``test``,
    written to ``out`` as ``pred_energy`` / ``pred_forces``; returns the frame count."""
    from ase.io import read, write

    frames = read(test, ":")
    for atoms in frames:
        atoms.calc = calc
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = None
        atoms.info["pred_energy"] = float(energy)
        atoms.arrays["pred_forces"] = forces
    write(out, frames, format="extxyz")
    return len(frames)


def check_forces(forces: torch.Tensor) -> float:
    """Largest |F| (eV/Å): finite, so the call really produced forces."""
    value = float(forces.detach().abs().max())
    if not np.isfinite(value):
        raise RuntimeError("benchmark: forces are not finite")
    return value
