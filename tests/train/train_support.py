"""Tiny EMT Cu data, a stand-in pair-potential model obeying the model call contract,
a hand-made two-frame batch and a config builder for the training tests.

(A plain module, imported by name: the test folders have no ``__init__.py``, so a second
``conftest.py`` would clash with ``tests/conftest.py`` as the module ``conftest``.)
"""

from pathlib import Path

import numpy as np
import torch
from torch import nn

from mlip_gnn.config import config_from_dict
from mlip_gnn.data import keys
from mlip_gnn.model.derivatives import (forces_from_edge_gradients, stress_from_virial,
                                        virial_from_edge_gradients)


def paced_clock(seconds_per_epoch: float):
    """A stand-in for ``Trainer.elapsed_s`` on which each epoch takes ``seconds_per_epoch``,
    spread evenly over its steps (the time limit and its fit then see a known pace)."""

    def elapsed_s(trainer) -> float:
        s = trainer.state
        done = s.epoch - trainer.first_epoch + s.step_in_epoch / max(trainer.epoch_batches, 1)
        return seconds_per_epoch * done

    return elapsed_s


class SimulatedClock:
    """A clock for the trainer that moves only when the run works: each optimiser step
    takes ``step_s(step, now)`` seconds (``step``: the global step being taken, ``now``:
    the clock when it starts) and each evaluation (validation, test) ``valid_s``.
    :meth:`install` puts it in place of ``Trainer._now`` for a test."""

    def __init__(self, step_s, valid_s: float = 0.0):
        self.step_s, self.valid_s, self.now = step_s, valid_s, 0.0

    def install(self, monkeypatch) -> "SimulatedClock":
        from mlip_gnn.train.trainer import Trainer

        clock, step, evaluate = self, Trainer._step, Trainer.evaluate

        def timed_step(trainer, batch):
            clock.now += clock.step_s(trainer.state.global_step, clock.now)
            return step(trainer, batch)

        def timed_evaluate(trainer, loader, use_ema=True):
            clock.now += clock.valid_s
            return evaluate(trainer, loader, use_ema)

        monkeypatch.setattr(Trainer, "_step", timed_step)
        monkeypatch.setattr(Trainer, "evaluate", timed_evaluate)
        monkeypatch.setattr(Trainer, "_now", staticmethod(lambda: clock.now))
        return self


def write_tiny_cu(path: Path, n_frames: int = 10, seed: int = 0) -> Path:
    """Rattled, strained fcc Cu cells of 4 and 8 atoms labelled by EMT."""
    from ase.build import bulk
    from ase.io import write

    rng = np.random.default_rng(seed)
    templates = [bulk("Cu", "fcc", a=3.6, cubic=True), bulk("Cu", "fcc", a=3.6) * (2, 2, 2)]
    frames = []
    for i in range(n_frames):
        atoms = templates[i % 2].copy()
        strain = np.eye(3) + rng.uniform(-0.02, 0.02, (3, 3))
        atoms.set_cell(atoms.cell.array @ (0.5 * (strain + strain.T)), scale_atoms=True)
        atoms.positions += rng.normal(0.0, 0.08, atoms.positions.shape)
        frames.append(label_emt(atoms))
    write(path, frames, format="extxyz")
    return path


def label_emt(atoms):
    """``atoms`` with EMT's energy, forces and stress attached as stored labels."""
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    atoms.calc = EMT()
    results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(),
               "stress": atoms.get_stress(voigt=False)}
    atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


class PairPotential(nn.Module):
    """E = Σ_i [shift + E0] + scale · ½ Σ_ij φ(r_ij), φ a learnable sum of damped sines."""

    def __init__(self, species, r_max, e0s, scale=1.0, shift=0.0, dtype="float64",
                 num_basis=4, **_):
        super().__init__()
        self.r_max = float(r_max)
        self.coeffs = nn.Parameter(0.1 * torch.randn(num_basis))
        self.register_buffer("e0", torch.tensor([e0s[z] for z in species]))
        self.register_buffer("k", torch.arange(1, num_basis + 1, dtype=torch.float64))
        self.scale, self.shift = float(scale), float(shift)
        self.to({"float32": torch.float32, "float64": torch.float64}[dtype])

    def forward(self, data, compute_forces=True, compute_stress=False, training=False):
        pos, cell, batch = data[keys.POSITIONS], data[keys.CELL], data[keys.BATCH]
        edge_index = data[keys.EDGE_INDEX]
        sender, receiver = edge_index[0], edge_index[1]
        edge_graph = batch[sender]
        vec = (pos[receiver] - pos[sender]
               + torch.einsum("ei,eij->ej", data[keys.EDGE_CELL_SHIFT], cell[edge_graph]))
        vec = vec.detach().requires_grad_(True)
        r = torch.linalg.norm(vec, dim=-1, keepdim=True)
        basis = torch.sin(self.k * torch.pi * r / self.r_max) / r * (1 - r / self.r_max) ** 2
        pair = self.scale * (basis * self.coeffs).sum(-1)  # [e]
        species = data[keys.SPECIES]
        atomic = (self.e0[species] + self.shift).index_add(0, receiver, 0.5 * pair)
        energy = torch.zeros(cell.shape[0], dtype=atomic.dtype).index_add(0, batch, atomic)
        out = {keys.TOTAL_ENERGY: energy, keys.ATOMIC_ENERGIES: atomic}
        (grad,) = torch.autograd.grad(energy.sum(), vec, create_graph=training)
        out[keys.FORCES] = forces_from_edge_gradients(grad, edge_index, pos.shape[0])
        if compute_stress:
            virial = virial_from_edge_gradients(grad, vec, edge_graph, cell.shape[0])
            out[keys.VIRIAL] = virial
            out[keys.STRESS] = stress_from_virial(virial, cell)[0]
        return out


def two_frame_batch():
    """Two frames (2 and 1 atoms): frame 1 has no energy label, frame 0 weight 2."""
    ref = {
        keys.NUM_ATOMS: torch.tensor([2, 1]),
        keys.BATCH: torch.tensor([0, 0, 1]),
        keys.TOTAL_ENERGY: torch.tensor([1.0, 5.0], dtype=torch.float64),
        keys.FORCES: torch.zeros(3, 3, dtype=torch.float64),
        keys.STRESS: torch.zeros(2, 3, 3, dtype=torch.float64),
        keys.WEIGHT: torch.tensor([2.0, 1.0], dtype=torch.float64),
        keys.ENERGY_WEIGHT: torch.tensor([1.0, 0.0], dtype=torch.float64),
        keys.FORCES_WEIGHT: torch.tensor([1.0, 1.0], dtype=torch.float64),
        keys.STRESS_WEIGHT: torch.tensor([0.0, 1.0], dtype=torch.float64),
    }
    pred = {
        keys.TOTAL_ENERGY: torch.tensor([3.0, 100.0], dtype=torch.float64),  # frame 1 masked
        keys.FORCES: torch.tensor([[1.0, 0, 0], [0, 2.0, 0], [0, 0, 3.0]], dtype=torch.float64),
        keys.STRESS: torch.stack([torch.full((3, 3), 50.0), torch.eye(3)]).double(),
    }
    return pred, ref


def config_maker(data_file, tmp_path):
    """``make(run_name, **sections)``: a float64 CPU config on ``data_file``; ``sections``
    update the defaults section by section."""

    def make(run_name="run", **sections):
        raw = {
            "seed": 1, "device": "cpu", "dtype": "float64",
            "data": {"train": [str(data_file)], "valid_fraction": 0.2, "r_max": 4.0,
                     "batch_size": 2},
            "loss": {"energy_weight": 1.0, "forces_weight": 10.0, "stress_weight": 1.0},
            "optim": {"lr": 0.01, "scheduler": "cosine", "ema_decay": 0.9},
            "train": {"max_epochs": 4, "best_metric": "forces_rmse"},
            "output": {"run_dir": str(tmp_path / run_name), "tensorboard": False,
                       "progress": False},
        }
        for section, values in sections.items():
            if isinstance(values, dict):
                raw.setdefault(section, {}).update(values)
            else:
                raw[section] = values
        return config_from_dict(raw)

    return make


#: overrides that make a shipped recipe train in seconds (a tiny model, two epochs)
SMALL_RECIPE = ["--set", "model.num_channels=4", "--set", "model.radial_mlp=[8]",
                "--set", "model.num_layers=1", "--set", "model.correlation=1",
                "--set", "train.max_epochs=2", "--set", "loss.stages=[]",
                "--set", "output.tensorboard=false", "--set", "output.progress=false",
                "--set", "device=cpu"]


def write_train_test(folder: Path, frames, num_train: int) -> Path:
    """The first ``num_train`` frames as ``folder/train.xyz``, the rest as ``test.xyz``."""
    import ase.io

    ase.io.write(folder / "train.xyz", frames[:num_train], format="extxyz")
    ase.io.write(folder / "test.xyz", frames[num_train:], format="extxyz")
    return folder


def train_recipe(config: Path, data: Path, run: Path, *overrides: str) -> Path:
    """``mlip-gnn train config`` on ``data``'s train.xyz / test.xyz into ``run``, small."""
    from mlip_gnn.cli.main import main

    assert main(["train", str(config), "--set", f"data.train={data / 'train.xyz'}",
                 "--set", f"data.test={data / 'test.xyz'}", "--set", f"output.run_dir={run}",
                 *SMALL_RECIPE, *overrides]) == 0
    return run
