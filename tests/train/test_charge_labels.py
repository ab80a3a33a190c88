"""Per-atom charge labels (``data.keys.charges``, ``loss.charges_weight``): read where frames
carry them, batched with frames that do not, stored by ``preprocess``, refused where no
model predicts charges, and fitted: a latent-charge model trained with the term ends closer
to the labelled charges than the same run without it."""

from pathlib import Path

import ase.io
import numpy as np
import pytest
import torch
from ase import Atoms

from mlip_gnn.calculators import MLIPCalculator
from mlip_gnn.cli.main import main
from mlip_gnn.config import ConfigError, config_from_dict
from mlip_gnn.data import keys
from mlip_gnn.data.configuration import KeyMap, configuration_from_atoms
from mlip_gnn.data.errors import DataError
from mlip_gnn.data.graph import SpeciesTable, collate, graph_from_configuration
from mlip_gnn.data.ondisk import DiskFrames
from mlip_gnn.train.loss import TERMS, WeightedLoss, elementwise_loss
from test_long_range_training import ion_pair_frames
from train_support import train_recipe, write_train_test

CONFIG = Path(__file__).parents[2] / "configs" / "long_range.yaml"
LABELS = KeyMap(charges="ref_charges")


def labelled(frames):
    """``frames`` with their formal ionic charges (Na +1, Cl -1) as ``ref_charges``."""
    for atoms in frames:
        atoms.arrays["ref_charges"] = np.where(atoms.numbers == 11, 1.0, -1.0)
    return frames


def graphs(frames, key_map=LABELS):
    species = SpeciesTable([11, 17])
    confs = [configuration_from_atoms(a, key_map, f"frame {i}") for i, a in enumerate(frames)]
    return [graph_from_configuration(c, 5.0, species) for c in confs]


def test_a_batch_mixing_labelled_and_unlabelled_frames_scores_only_the_labelled_atoms():
    frames = labelled(ion_pair_frames(3, seed=1))
    del frames[1].arrays["ref_charges"]
    batch = collate(graphs(frames))
    sizes = [len(a) for a in frames]
    assert batch[keys.CHARGES_WEIGHT].tolist() == [1.0, 0.0, 1.0]
    assert batch[keys.CHARGES].shape == (sum(sizes),)
    predicted = torch.linspace(-0.7, 0.9, sum(sizes), dtype=torch.float64)
    term = TERMS["charges"]({keys.CHARGES: predicted}, batch, elementwise_loss("mse"))
    scored = np.r_[np.ones(sizes[0]), np.zeros(sizes[1]), np.ones(sizes[2])].astype(bool)
    reference = np.concatenate([a.arrays.get("ref_charges", np.zeros(len(a)))
                                for a in frames])
    expected = np.mean((predicted.numpy() - reference)[scored] ** 2)
    assert term.item() == pytest.approx(expected, rel=1e-12)


def test_a_batch_without_any_charge_label_gives_a_zero_term():
    batch = collate(graphs(ion_pair_frames(2, seed=2)))
    assert keys.CHARGES not in batch
    loss = WeightedLoss({"energy": 0.0, "forces": 0.0, "charges": 1.0},
                        elementwise_loss("mse"))
    pred = {keys.TOTAL_ENERGY: torch.ones(2, dtype=torch.float64, requires_grad=True)}
    assert loss.terms(pred, batch)["charges"].item() == 0.0
    assert loss.label_counts(batch)["charges"].item() == 0.0


def test_charges_are_read_from_per_atom_arrays_and_nan_names_the_field_and_frame():
    atoms = labelled(ion_pair_frames(1, seed=3))[0]
    np.testing.assert_array_equal(configuration_from_atoms(atoms, LABELS).atomic_charges,
                                  atoms.arrays["ref_charges"])
    frame = Atoms(atoms.numbers, atoms.positions)
    frame.info["ref_charges"] = 1.0  # a per-frame value is not a per-atom label
    assert configuration_from_atoms(frame, LABELS).atomic_charges is None
    atoms.arrays["ref_charges"][0] = np.nan
    with pytest.raises(DataError, match="frame 7.*ref_charges"):
        configuration_from_atoms(atoms, LABELS, "frame 7")


def test_preprocessed_datasets_keep_the_charge_labels(tmp_path):
    frames = labelled(ion_pair_frames(4, seed=4))
    del frames[2].arrays["ref_charges"]
    ase.io.write(tmp_path / "frames.xyz", frames, format="extxyz")
    assert main(["preprocess", str(tmp_path / "frames.xyz"), "-o", str(tmp_path / "ds"),
                 "--r-max", "5.0", "--key-map", "charges=ref_charges"]) == 0
    stored = DiskFrames([tmp_path / "ds"])
    for i, atoms in enumerate(frames):
        if "ref_charges" in atoms.arrays:
            np.testing.assert_array_equal(stored[i].atomic_charges, atoms.arrays["ref_charges"])
        else:
            assert stored[i].atomic_charges is None


@pytest.mark.parametrize("overrides, message", [
    ({"model": {"long_range": {"electrostatics": "none"}}}, "electrostatics"),
    ({"data": {"train": "x.xyz", "keys": {"charges": None}}}, "data.keys.charges"),
])
def test_a_charge_term_without_charges_to_fit_is_refused(overrides, message):
    raw = {"data": {"train": "x.xyz", "keys": {"charges": "ref_charges"}},
           "model": {"long_range": {"electrostatics": "latent"}},
           "loss": {"charges_weight": 1.0}}
    for section, values in overrides.items():
        raw[section] = values
    with pytest.raises(ConfigError, match=message):
        config_from_dict(raw)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    frames = labelled(ion_pair_frames(14, seed=0))
    return write_train_test(tmp_path_factory.mktemp("q-data"), frames, 12)


def charge_error(run, data):
    """Mean |q - q_label| of ``run``'s latent charges over the test frames."""
    calc = MLIPCalculator(run)
    errors = []
    for atoms in ase.io.read(data / "test.xyz", index=":"):
        atoms.calc = calc
        atoms.get_potential_energy()
        errors.append(np.abs(calc.results["charges"] - atoms.arrays["ref_charges"]))
    return float(np.mean(np.concatenate(errors)))


def test_fitting_the_labels_pulls_the_latent_charges_towards_them(data, tmp_path):
    common = ("--set", "data.keys.charges=ref_charges", "--set", "train.max_epochs=6",
              "--set", "optim.lr=0.02", "--set", "optim.ema_decay=null")
    fitted = train_recipe(CONFIG, data, tmp_path / "fitted", *common,
                          "--set", "loss.charges_weight=100")
    free = train_recipe(CONFIG, data, tmp_path / "free", *common,
                        "--set", "loss.charges_weight=0")
    with_term, without_term = charge_error(fitted, data), charge_error(free, data)
    assert with_term < 0.5 * without_term, (with_term, without_term)
