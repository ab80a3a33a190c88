"""Uncertainty estimators by name, for ``select.estimator`` in AL.yaml.

An entry is a factory ``(context) -> UncertaintyEstimator`` that gets the iteration's
trained run directories and training set. ``committee`` is the committee spread;
``llpr`` (last-layer prediction rigidity) and ``distance`` (descriptor distance) work on
one model (``training.committee: 1``), fitted after training on its training and
validation split, once per round. New kinds are added with
:func:`register_estimator`, or named in the YAML as ``"package.module:factory"``.

:func:`fit_run` is the one path that fits a training run's single-model estimators on
its own split: the loop's factories and ``mlip-gnn uncertainty fit`` both call it.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Sequence

from mlip_gnn.errors import MlipGnnError
from mlip_gnn.inference import UncertaintyEstimator
from mlip_gnn.uncertainty import (DISTANCE_FILE, ESTIMATORS, KINDS, LLPR_FILE,
                                  CommitteeSpread, EstimatorFitError)
from mlip_gnn.uncertainty.fit import (FitData, collect_fit_data, fit_estimators,
                                      residual_summary)
from mlip_gnn.uncertainty.store import StoredState

__all__ = ["EstimatorContext", "EstimatorError", "ESTIMATOR_FACTORIES", "register_estimator",
           "make_estimator", "fit_run", "RunFit", "FIT_FILES"]

#: single-model estimator → its fit's file in the run directory
FIT_FILES = {"llpr": LLPR_FILE, "distance": DISTANCE_FILE}


class EstimatorError(MlipGnnError, ValueError):
    """Raised for an estimator name that is neither registered nor importable, or a
    factory that does not return an :class:`~mlip_gnn.inference.UncertaintyEstimator`."""


@dataclasses.dataclass(frozen=True)
class EstimatorContext:
    """What a factory may use: the models' run directories, the file they were trained on
    (extended XYZ), and ``select.estimator_options``."""

    run_dirs: List[Path]
    train_file: Path
    options: Mapping[str, Any]


EstimatorFactory = Callable[[EstimatorContext], UncertaintyEstimator]


def _committee(context: EstimatorContext) -> UncertaintyEstimator:
    return CommitteeSpread(**context.options)


@dataclasses.dataclass
class RunFit:
    """What :func:`fit_run` made: the checkpoint it used, the passes' data (frame counts,
    seconds, validation residuals), the fitted states and where they were saved."""

    checkpoint: Path
    data: FitData
    states: Dict[str, StoredState]
    paths: Dict[str, Path]

    @property
    def residuals(self) -> Dict[str, float]:
        """RMS validation residuals: energy (eV), force components (eV/Å)."""
        return residual_summary(self.data.samples)


def fit_run(run_dir: os.PathLike, kinds: Sequence[str] = KINDS, device: str = "auto",
            use_ema: bool = True, options: Mapping[str, Mapping[str, Any]] | None = None
            ) -> RunFit:
    """Fit the single-model estimators ``kinds`` of the training run in ``run_dir`` on its
    own training and validation split (as its config.yaml defines them) with its best
    checkpoint, and save each beside it (``llpr.pt``, ``distance.pt``). ``options[kind]``:
    that kind's fit arguments. The one path of ``mlip-gnn uncertainty fit`` and the loop."""
    from mlip_gnn.config import load_config
    from mlip_gnn.export import resolve_model_path
    from mlip_gnn.inference import Predictor
    from mlip_gnn.train.splits import read_splits

    run_dir = Path(run_dir)
    config = run_dir / "config.yaml"
    if not config.is_file():
        raise EstimatorFitError(f"{run_dir}: no config.yaml; give a training run directory")
    checkpoint = resolve_model_path(run_dir)
    splits = read_splits(load_config(config))
    predictor = Predictor(checkpoint, device=device, use_ema=use_ema)
    data = collect_fit_data(predictor, splits.train, splits.valid)
    states = fit_estimators(data, kinds, options)
    paths = {kind: state.save(run_dir / FIT_FILES[kind]) for kind, state in states.items()}
    return RunFit(checkpoint, data, states, paths)


def _single_model(kind: str) -> EstimatorFactory:
    """A factory for a single-model estimator: each round's model is fitted once (the fit
    is saved beside it) with ``select.estimator_options`` as fit arguments."""

    def factory(context: EstimatorContext) -> UncertaintyEstimator:
        for run_dir in context.run_dirs:
            if not (Path(run_dir) / FIT_FILES[kind]).is_file():
                fit_run(run_dir, (kind,), options={kind: context.options})
        return ESTIMATORS[kind]()

    return factory


#: name → factory of ``select.estimator``; the estimators themselves are
#: :data:`mlip_gnn.uncertainty.ESTIMATORS`
ESTIMATOR_FACTORIES: Dict[str, EstimatorFactory] = {
    "committee": _committee, "llpr": _single_model("llpr"),
    "distance": _single_model("distance")}


def register_estimator(name: str, factory: EstimatorFactory) -> None:
    """Make ``select.estimator: name`` build its estimator with ``factory``."""
    ESTIMATOR_FACTORIES[name] = factory


def _import(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise EstimatorError(f"select.estimator: cannot import {path!r} ({err})") from None


def make_estimator(name: str, context: EstimatorContext) -> UncertaintyEstimator:
    """The estimator ``name`` (registered, or ``module:factory``) for ``context``; checked
    against the number of models."""
    if name in ESTIMATOR_FACTORIES:
        factory = ESTIMATOR_FACTORIES[name]
    elif ":" in name:
        factory = _import(name)
    else:
        raise EstimatorError(f"select.estimator: unknown estimator {name!r}; registered: "
                             f"{', '.join(sorted(ESTIMATOR_FACTORIES))} (or give 'module:factory')")
    try:
        estimator = factory(context)
    except TypeError as err:
        raise EstimatorError(f"select.estimator {name!r}: {err} (check "
                             "select.estimator_options)") from None
    if not isinstance(estimator, UncertaintyEstimator):
        raise EstimatorError(f"select.estimator {name!r}: the factory returned "
                             f"{type(estimator).__name__}, not an UncertaintyEstimator")
    estimator.check(len(context.run_dirs))
    return estimator
