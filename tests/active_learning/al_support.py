"""A small AL.yaml, a stand-in trainer that writes an untrained model per seed, and a
labeller that counts its calls, for the active-learning tests.

(A plain module, imported by name: the test folders have no ``__init__.py``.)
"""

import types
from pathlib import Path

import pytest

from mlip_gnn.active_learning import CalculatorLabeller, al_config_from_dict
from mlip_gnn.model import build_model
from mlip_gnn.modelio import ModelSpec, save_checkpoint

QUICKSTART = Path(__file__).parents[2] / "configs" / "quickstart.yaml"


def tiny_al_dict(work_dir, **sections):
    """A loop of 2 iterations on a 16-atom Cu cell; ``sections`` replace whole sections."""
    raw = {
        "seed": 0,
        "work_dir": str(work_dir),
        "structures": {"cu": {"bulk": {"name": "Cu", "crystalstructure": "fcc", "a": 3.6,
                                       "cubic": True}, "repeat": [1, 1, 2]}},
        "initial": {"structures": "cu", "frames": 4},
        "training": {"config": str(QUICKSTART), "committee": 2, "warm_start": False,
                     "overrides": ["data.e0s=least_squares", "data.batch_size=2",
                                   "model.num_channels=4", "model.radial_mlp=[8]",
                                   "model.num_layers=1", "loss.stages=[]",
                                   "train.max_epochs=2", "output.progress=false",
                                   "output.tensorboard=false"]},
        "explore": {"structures": "cu", "steps": 30, "interval": 5,
                    "schedule": [{"temperatures": [300]}, {"temperatures": [300, 900]}]},
        "select": {"lower": 1e-4, "upper": 10.0, "max_candidates": 3},
        "label": {"calculator": "ase.calculators.emt:EMT"},
        "stop": {"max_iterations": 2},
    }
    raw.update(sections)
    return raw


def tiny_al_config(work_dir, **sections):
    return al_config_from_dict(tiny_al_dict(work_dir, **sections))


def untrained_train(cfg):
    """Stands in for ``mlip_gnn.train.train``: an untrained model from ``cfg.seed`` saved
    as ``best.pt`` in ``cfg.output.run_dir`` (the loop, not training, is under test)."""
    if cfg.seed not in _MODELS:  # building is the slow part; the result is the same
        kwargs = dict(species=[29], r_max=cfg.data.r_max, e0s={29: -0.1}, num_layers=1,
                      num_channels=4, max_ell=1, hidden_ell=1, correlation=1,
                      radial_mlp=[8], scale=0.05, shift=0.0, avg_num_neighbors=20.0,
                      dtype="float64")
        model = build_model(**kwargs, seed=cfg.seed)
        _MODELS[cfg.seed] = {"model_spec": ModelSpec.from_builder_kwargs(kwargs).to_dict(),
                             "model": model.state_dict(), "epoch": 1}
    untrained_train.calls.append(cfg)
    if untrained_train.kill_on == len(untrained_train.calls):
        raise KeyboardInterrupt
    run_dir = Path(cfg.output.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_checkpoint(_MODELS[cfg.seed], run_dir / "best.pt")
    return types.SimpleNamespace(interrupted=False, stop_reason="max_epochs")


_MODELS = {}
untrained_train.calls = []
untrained_train.kill_on = None  # raise KeyboardInterrupt on that call (from 1)


class CountingLabeller(CalculatorLabeller):
    """EMT that records the id of every structure it labels; with ``kill_on`` it raises
    KeyboardInterrupt (a killed process) on that call, counted from 1."""

    def __init__(self, kill_on=None):
        super().__init__("ase.calculators.emt:EMT")
        self.ids, self.kill_on = [], kill_on

    def label(self, atoms, folder):
        if self.kill_on is not None and len(self.ids) + 1 == self.kill_on:
            raise KeyboardInterrupt
        self.ids.append(atoms.info.get("al_id"))
        return super().label(atoms, folder)


@pytest.fixture(autouse=True)
def fresh_trainer():
    """Autouse where imported: the stand-in trainer starts each test with no calls and no
    planned kill."""
    untrained_train.calls.clear()
    untrained_train.kill_on = None
    yield
    untrained_train.kill_on = None


def force_by_differences(labeller, atoms, folder, atom: int, axis: int, h: float) -> float:
    """-dE/dx of ``labeller``'s energy for one coordinate, by central differences (eV/Å)."""
    energies = []
    for sign in (1, -1):
        moved = atoms.copy()
        moved.positions[atom, axis] += sign * h
        energies.append(labeller.label(moved, folder).get_potential_energy())
    return -(energies[0] - energies[1]) / (2 * h)
