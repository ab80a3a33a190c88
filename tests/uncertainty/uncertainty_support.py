"""Frames labelled as a model's own prediction plus known noise, and fitted states of the
single-model estimators for the tests."""

import dataclasses

import numpy as np
from emt_support import rattled_cu_frames
from model_support import random_crystal

from mlip_gnn.data import configuration_from_atoms
from mlip_gnn.inference import Predictor
from mlip_gnn.uncertainty.fit import collect_fit_data, fit_distance, fit_llpr


def noisy_frames(model, count, seed=0, energy_noise=0.01, force_noise=0.02):
    """``count`` random Al/Cu crystals labelled with ``model``'s prediction plus Gaussian
    noise (eV, eV/Å)."""
    rng = np.random.default_rng(seed)
    predictor = Predictor(model)
    frames = []
    for i in range(count):
        conf = configuration_from_atoms(random_crystal(seed=100 * seed + i))
        pred = predictor.predict(conf)
        frames.append(dataclasses.replace(
            conf, energy=pred.energy + energy_noise * rng.normal(),
            forces=pred.forces + force_noise * rng.normal(size=pred.forces.shape)))
    return frames


def fitted(model, num_train=8, num_valid=4):
    """(fit data, LLPR state, distance state) of ``model`` on noisy frames."""
    frames = noisy_frames(model, num_train + num_valid)
    data = collect_fit_data(Predictor(model), frames[:num_train], frames[num_train:])
    return data, fit_llpr(data), fit_distance(data, k=3)


def emt_frames(count, seed=0):
    """Rattled fcc Cu cells (4 atoms) labelled by EMT, as ASE Atoms."""
    return rattled_cu_frames(count, seed, rattle=0.1, stress=True)


def tiny_run(tmp_path):
    """A one-epoch training run of a small float64 model on 12 EMT frames → run dir."""
    import yaml
    from ase.io import write

    from mlip_gnn.cli.main import main

    write(tmp_path / "cu.xyz", emt_frames(12), format="extxyz")
    config = {"seed": 0, "dtype": "float64",
              "data": {"train": str(tmp_path / "cu.xyz"), "valid_fraction": 0.25,
                       "r_max": 3.5, "batch_size": 4, "e0s": {"Cu": 0.0}},
              "model": {"num_layers": 2, "num_channels": 4, "max_ell": 1, "hidden_ell": 1,
                        "correlation": 1, "radial_mlp": [8]},
              "train": {"max_epochs": 1},
              "output": {"run_dir": str(tmp_path / "run"), "tensorboard": False,
                         "progress": False}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", str(tmp_path / "config.yaml")]) == 0
    return tmp_path / "run"
