"""Fitting the single-model estimators after training: one pass over the training set
(LLPR's Σ, the descriptor distance's reference environments), one over the validation set
(calibration).

>>> data = collect_fit_data(Predictor("runs/cu"), splits.train, splits.valid)  # doctest: +SKIP
>>> fit_estimators(data)["llpr"].save("runs/cu/llpr.pt")  # doctest: +SKIP

A training run's fits (its config's split, saved beside it) are made by
:func:`mlip_gnn.active_learning.fit_run`, for ``mlip-gnn uncertainty fit`` and the loop.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Dict, List, Mapping, Sequence

import numpy as np
import torch

from mlip_gnn.data.configuration import Configuration
from mlip_gnn.inference import Predictor
from mlip_gnn.uncertainty.distance import DistanceState
from mlip_gnn.uncertainty.llpr import LLPRState, ValidationSample, calibrate_llpr
from mlip_gnn.uncertainty.readout import (feature_pass, readout_parts, readout_weights,
                                          structure_features)
from mlip_gnn.uncertainty.store import EstimatorFitError, StoredState

__all__ = ["FitData", "collect_fit_data", "fit_llpr", "fit_distance", "fit_estimators",
           "residual_summary", "KINDS"]

#: estimator name → fitted by
KINDS = ("llpr", "distance")


@dataclasses.dataclass
class FitData:
    """What the passes collect: Σ [d, d], the training atoms' f_i [N, d], the number of
    training frames, the validation samples and the readout weights w [d]."""

    covariance: torch.Tensor
    train_atom_features: torch.Tensor
    num_train: int
    samples: List[ValidationSample]
    weights: torch.Tensor
    seconds: Dict[str, float]


def collect_fit_data(predictor: Predictor, train: Sequence[Configuration],
                     valid: Sequence[Configuration]) -> FitData:
    """Run the predictor's one (eager) model over ``train`` (features, no gradients) and
    ``valid`` (features, their position derivatives and the residuals)."""
    if len(predictor) != 1:
        raise EstimatorFitError(f"fit one model at a time; got {len(predictor)}")
    if not train or not valid:
        raise EstimatorFitError(f"need training and validation frames; got {len(train)} "
                                f"and {len(valid)}")
    module = predictor.members[0].module
    parts = readout_parts(module)
    weights = readout_weights(module)
    d = weights.shape[0]
    start = time.perf_counter()
    covariance = torch.zeros(d, d, dtype=torch.float64)
    atoms: List[torch.Tensor] = []
    for conf in train:
        f, _ = structure_features(module, predictor.model_inputs(conf), parts)  # [n, d]
        per_atom = f.sum(0) / conf.num_atoms  # the per-atom energy loss's features
        covariance += torch.outer(per_atom, per_atom)
        atoms.append(f)
    train_s = time.perf_counter() - start
    samples = [_validation_sample(predictor, module, parts, conf, d) for conf in valid]
    seconds = {"train_pass": train_s, "valid_pass": time.perf_counter() - start - train_s}
    return FitData(covariance, torch.cat(atoms), len(train), samples, weights, seconds)


def _validation_sample(predictor, module, parts, conf: Configuration,
                       d: int) -> ValidationSample:
    inputs = predictor.model_inputs(conf)
    pred = predictor.predict(conf)
    run = feature_pass(module, inputs, parts, gradients=conf.forces is not None)
    f = run.features.detach().to(torch.float64)
    jacobian, force_residual = None, None
    if conf.forces is not None:
        eye = torch.eye(d, dtype=run.features.dtype)
        jacobian = run.forces_of(eye).detach().to(torch.float64).reshape(d, -1)  # [d, 3n]
        force_residual = (pred.forces - conf.forces).reshape(-1)
    energy_residual = None if conf.energy is None else pred.energy - conf.energy
    return ValidationSample(f.sum(0), f, energy_residual, jacobian, force_residual)


def fit_llpr(data: FitData, regularisers: Sequence[float] | None = None) -> LLPRState:
    """LLPR state: Σ from the training pass, ς², α² and the OOD unit from validation."""
    best = calibrate_llpr(data.covariance, data.samples, regularisers)
    state = LLPRState(data.covariance, data.weights, best["regulariser"],
                      best["alpha2_energy"], best["alpha2_forces"], 1.0, data.num_train,
                      {k: float(v) for k, v in best.items()})
    inverse = torch.linalg.inv(state.covariance + state.regulariser
                               * torch.eye(state.covariance.shape[0], dtype=torch.float64))
    atoms = torch.cat([s.atom_features for s in data.samples])
    local = (atoms @ inverse * atoms).sum(-1)
    state = dataclasses.replace(state, ood_reference=float(local.median()) or 1.0)
    return _order_force_directions(state, data.samples)


def _order_force_directions(state: LLPRState, samples) -> LLPRState:
    """Rows of (Σ + ς² I)^-1/2 rotated to the principal axes of the validation force
    variance Σ_val (U J)(U J)ᵀ, most first: a rotation, so all d rows give the same σ."""
    jacobians = [s.force_jacobian for s in samples if s.force_jacobian is not None]
    if not jacobians:
        return state
    directions = state.directions()  # [d, d]
    projected = directions @ torch.cat(jacobians, 1)  # [d, 3 Σn]
    variance, axes = torch.linalg.eigh(projected @ projected.T)
    variance, axes = variance.flip(0).clamp(min=0), axes.flip(1)
    captured = variance.cumsum(0) / variance.sum().clamp(min=1e-300)
    return dataclasses.replace(state, force_directions=axes.T @ directions,
                               force_captured=captured)


def fit_distance(data: FitData, k: int = 5, max_reference: int = 5000,
                 seed: int = 0) -> DistanceState:
    """Descriptor-distance state: reference environments from training, calibration on
    validation."""
    state = DistanceState.from_training(data.train_atom_features, data.weights, k,
                                        max_reference, seed)
    distances = [state.distances(s.atom_features).numpy() for s in data.samples]
    forces = [None if s.force_residual is None else s.force_residual.reshape(-1, 3)
              for s in data.samples]
    return state.calibrated(distances, [s.energy_residual for s in data.samples], forces)


def fit_estimators(data: FitData, kinds: Sequence[str] = KINDS,
                   options: Mapping[str, Mapping[str, Any]] | None = None
                   ) -> Dict[str, StoredState]:
    """Fitted states by estimator name (``llpr``, ``distance``, in that order) from the
    passes' ``data``; ``options[kind]`` are keyword arguments of that kind's fit
    (:func:`fit_llpr`, :func:`fit_distance`)."""
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise EstimatorFitError(f"unknown estimators {unknown}; valid: {list(KINDS)}")
    options = options or {}
    fitters = {"llpr": fit_llpr, "distance": fit_distance}
    return {kind: fitters[kind](data, **options.get(kind, {})) for kind in KINDS
            if kind in kinds}


def residual_summary(samples: Sequence[ValidationSample]) -> Dict[str, float]:
    """RMS energy (eV) and force-component (eV/Å) residuals of the validation pass."""
    energy = [s.energy_residual for s in samples if s.energy_residual is not None]
    forces = [s.force_residual for s in samples if s.force_residual is not None]
    out = {}
    if energy:
        out["energy_rmse"] = float(np.sqrt(np.mean(np.square(energy))))
    if forces:
        out["forces_rmse"] = float(np.sqrt(np.mean(np.square(np.concatenate(forces)))))
    return out
