"""Fine-tuning (model.init_from): species growth, frozen and fresh parts, learning-rate
factors, replay, E0s of new elements, and exact resume."""

import signal

import numpy as np
import pytest
import torch
from ase.build import bulk

from mlip_gnn.config import FREEZE_PARTS, ConfigError
from mlip_gnn.data import Configuration, DataError, KeyMap, configuration_from_atoms
from mlip_gnn.inference import Predictor
from mlip_gnn.model import build_model
from mlip_gnn.modelio import ModelSpecError, load_checkpoint
from mlip_gnn.train import finetune, train
from mlip_gnn.train.splits import replay_frames
from train_support import config_maker, label_emt, write_tiny_cu
from test_trainer import _interrupt_after, _records, _without_times

TINY_MODEL = {"num_layers": 2, "num_channels": 4, "max_ell": 1, "hidden_ell": 1,
              "correlation": 2, "num_bessel": 4, "radial_mlp": [8]}


def _write_cu_au(path, n_frames=8, seed=3):
    """Rattled 8-atom Cu cells with one or two Au atoms, labelled by EMT."""
    from ase.io import write

    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_frames):
        atoms = bulk("Cu", "fcc", a=3.65, cubic=True) * (2, 1, 1)
        symbols = atoms.get_chemical_symbols()
        for j in rng.choice(len(atoms), size=1 + i % 2, replace=False):
            symbols[j] = "Au"
        atoms.set_chemical_symbols(symbols)
        atoms.positions += rng.normal(0.0, 0.08, atoms.positions.shape)
        frames.append(label_emt(atoms))
    write(path, frames, format="extxyz")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("finetune-data")
    return {"cu": write_tiny_cu(root / "cu.xyz", n_frames=10),
            "cu_au": _write_cu_au(root / "cu_au.xyz")}


@pytest.fixture(scope="module")
def pretrained_run(data, tmp_path_factory):
    make = config_maker(data["cu"], tmp_path_factory.mktemp("finetune-runs"))
    return train(make("cu", model=TINY_MODEL, train={"max_epochs": 2})).run_dir


def _tuning_config(data, tmp_path, pretrained_run, name="tuned", **finetune_options):
    make = config_maker(data["cu_au"], tmp_path)
    return make(name, model={**TINY_MODEL, "init_from": str(pretrained_run)},
                finetune=finetune_options, train={"max_epochs": 2})


def _weights(run_dir, name="last.pt"):
    return load_checkpoint(run_dir / name)["model"]


def test_config_names_the_parts_the_trainer_knows():
    assert tuple(finetune.PART_PATTERNS) == FREEZE_PARTS
    model = build_model(species=[29], **TINY_MODEL, dtype="float64")
    for part in (*FREEZE_PARTS, "layers.1"):
        assert finetune.part_names(model, [part]), part  # each part names some weights


def test_finetune_options_need_init_from_and_known_parts(data, tmp_path):
    make = config_maker(data["cu"], tmp_path)
    with pytest.raises(ConfigError, match="finetune.freeze is set but model.init_from"):
        make(finetune={"freeze": ["embedding"]})
    with pytest.raises(ConfigError, match=r"finetune.freeze\[0\].*'embeding'.*'embedding'"):
        make(model={"init_from": "x"}, finetune={"freeze": ["embeding"]})
    with pytest.raises(ConfigError, match="finetune.reinit"):
        make(model={"init_from": "x"}, finetune={"freeze": ["readouts"],
                                                 "reinit": ["readouts"]})


def test_new_species_leave_old_predictions_unchanged_at_step_0(data):
    old = build_model(species=[29], e0s={29: -0.3}, seed=0, dtype="float64", **TINY_MODEL)
    new = build_model(species=[29, 79], e0s={29: -0.3, 79: 0.2}, seed=1, dtype="float64",
                      **TINY_MODEL)
    grown = finetune.transfer_weights(new, old.state_dict(), [29], [29, 79])
    assert {"embedding.weight", "layers.0.product.weights"} <= set(grown)
    cu = bulk("Cu", "fcc", a=3.6, cubic=True)
    cu.rattle(0.1, seed=0)
    conf = configuration_from_atoms(cu, KeyMap(energy=None, forces=None, stress=None,
                                               virial=None, weight=None, config_type=None))
    before, after = Predictor(old).predict(conf), Predictor(new).predict(conf)
    assert after.energy == pytest.approx(before.energy, abs=1e-12, rel=1e-12)
    np.testing.assert_allclose(after.forces, before.forces, atol=1e-12)


def test_new_element_e0_is_fitted_with_the_old_ones_fixed():
    def frame(numbers, energy):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True)[: len(numbers)]
        atoms.numbers = numbers
        conf = Configuration(positions=atoms.positions, atomic_numbers=np.array(numbers),
                             cell=atoms.cell.array, pbc=atoms.pbc, energy=energy)
        return conf
    # E = 3 E_Cu + n_Au E_Au with E_Cu = -1 (stored) and E_Au = -2.5 (to find)
    train_set = [frame([29, 29, 29, 79], -3 - 2.5), frame([29, 29, 79, 79], -2 - 5.0)]
    e0s = finetune._new_e0s(train_set, {29: -1.0}, [79], "least_squares")
    assert e0s == {79: pytest.approx(-2.5, abs=1e-12)}
    with pytest.raises(DataError, match="new element"):
        finetune._new_e0s([frame([29, 29], -2.0)], {29: -1.0}, [79], "least_squares")


def test_growing_run_keeps_frozen_parts_and_trains_new_rows(data, tmp_path, pretrained_run):
    cfg = _tuning_config(data, tmp_path, pretrained_run, freeze=["embedding", "layers.0"],
                         pretrained_lr_factor=0.5)
    result = train(cfg)
    old = load_checkpoint(pretrained_run / "best.pt")
    tuned = load_checkpoint(result.run_dir / "last.pt")
    before, after = old["ema"]["shadow"] if old["ema"] else old["model"], tuned["model"]
    assert tuned["model_spec"]["species"] == [29, 79]
    assert tuned["model_spec"]["architecture"] == old["model_spec"]["architecture"]
    cu_row = 0  # Cu comes first in the sorted species [29, 79]
    assert torch.equal(after["embedding.weight"][cu_row], before["embedding.weight"][0])
    assert not torch.equal(after["embedding.weight"][1],
                           build_model(species=[29, 79], **TINY_MODEL,
                                       dtype="float64").embedding.weight[1])
    for name, value in after.items():
        if name.startswith("layers.0.") and "product" not in name:
            assert torch.equal(value, before[name]), name  # frozen
    assert torch.equal(after["layers.0.product.weights"][cu_row],
                       before["layers.0.product.weights"][0])
    assert not torch.equal(after["layers.1.readout.linear.weight"],
                           before["layers.1.readout.linear.weight"])  # trained
    groups = {g["name"]: g for g in tuned["optimizer"]["param_groups"]}
    assert groups["pretrained"]["lr_factor"] == 0.5
    assert groups["partly_frozen"]["weight_decay"] == 0.0
    records = _records(result.run_dir)
    assert records[0]["lr"] == pytest.approx(0.01)  # the schedule's lr; groups scale it
    assert result.stop_reason == "max_epochs"


def test_reinit_parts_start_afresh(data, tmp_path, pretrained_run):
    cfg = _tuning_config(data, tmp_path, pretrained_run, reinit=["readouts"])
    cfg.train.max_epochs = 1
    cfg.optim.lr = 1e-12  # so that the weights still show where they started
    result = train(cfg)
    old = load_checkpoint(pretrained_run / "best.pt")["model"]
    tuned = load_checkpoint(result.run_dir / "last.pt")["model"]
    name = "layers.1.readout.out.weight"
    assert not torch.allclose(tuned[name], old[name], atol=1e-6)
    assert torch.allclose(tuned["layers.1.product.weights"][0],
                          old["layers.1.product.weights"][0], atol=1e-6)


def test_a_changed_architecture_is_refused_naming_the_field(data, tmp_path, pretrained_run):
    cfg = _tuning_config(data, tmp_path, pretrained_run)
    cfg.model.num_channels = 8
    with pytest.raises(ModelSpecError, match=r"model.num_channels: 4 -> 8"):
        train(cfg)


def test_replay_mixes_a_fixed_fraction_of_old_frames(data):
    old = list(range(100))
    picked = replay_frames(old, num_new=30, fraction=0.25, seed=0)
    assert len(picked) == 10 and picked == replay_frames(old, 30, 0.25, 0)
    assert len(replay_frames(old[:4], num_new=30, fraction=0.25, seed=0)) == 4


def test_resume_of_a_finetuning_run_is_exact(data, tmp_path, pretrained_run, monkeypatch):
    options = dict(freeze=["layers.0"], pretrained_lr_factor=0.3,
                   replay=[str(data["cu"])], replay_fraction=0.3)
    reference = train(_tuning_config(data, tmp_path, pretrained_run, "a", **options))
    cfg = _tuning_config(data, tmp_path, pretrained_run, "b", **options)
    with monkeypatch.context() as patch:
        _interrupt_after(patch, 3, signal.SIGTERM)
        assert train(cfg).interrupted
    resumed = train(cfg)
    assert _without_times(_records(resumed.run_dir)) == _without_times(_records(reference.run_dir))
    a, b = _weights(reference.run_dir), _weights(resumed.run_dir)
    for name, tensor in a.items():
        assert torch.equal(tensor, b[name]), name
