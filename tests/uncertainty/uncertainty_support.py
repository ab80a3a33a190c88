"""Frames labelled as a model's own prediction plus known noise, and fitted states of the
single-model estimators for the tests."""

import dataclasses

import numpy as np
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
