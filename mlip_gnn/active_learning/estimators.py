"""Uncertainty estimators by name, for ``select.estimator`` in AL.yaml.

An entry is a factory ``(context) -> UncertaintyEstimator`` that gets the iteration's
trained run directories and training set. ``committee`` is the committee spread;
``llpr`` (last-layer prediction rigidity) and ``distance`` (descriptor distance) work on
one model (``training.committee: 1``), fitted after training on its training and
validation split, once per round. New kinds are added with
:func:`register_estimator`, or named in the YAML as ``"package.module:factory"``.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping

from mlip_gnn.errors import MlipGnnError
from mlip_gnn.inference import UncertaintyEstimator
from mlip_gnn.uncertainty import CommitteeSpread

__all__ = ["EstimatorContext", "EstimatorError", "ESTIMATORS", "register_estimator",
           "make_estimator", "fit_run"]


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


def fit_run(run_dir: Path, kind: str, **fit_options: Any) -> Path:
    """Fit the single-model estimator ``kind`` (``llpr`` or ``distance``) of the training
    run in ``run_dir`` on its own training and validation split (as ``mlip-gnn
    uncertainty fit`` does); the path of the saved fit."""
    from mlip_gnn.config import load_config
    from mlip_gnn.export import resolve_model_path
    from mlip_gnn.inference import Predictor
    from mlip_gnn.train.data_setup import read_splits
    from mlip_gnn.uncertainty import DISTANCE_FILE, LLPR_FILE
    from mlip_gnn.uncertainty.fit import collect_fit_data, fit_distance, fit_llpr

    splits = read_splits(load_config(Path(run_dir) / "config.yaml"))
    predictor = Predictor(resolve_model_path(run_dir))
    data = collect_fit_data(predictor, splits.train, splits.valid)
    if kind == "llpr":
        return fit_llpr(data, **fit_options).save(Path(run_dir) / LLPR_FILE)
    return fit_distance(data, **fit_options).save(Path(run_dir) / DISTANCE_FILE)


def _single_model(kind: str) -> EstimatorFactory:
    """A factory for a single-model estimator: each round's model is fitted once (the fit
    is saved beside it) with ``select.estimator_options`` as fit arguments."""

    def factory(context: EstimatorContext) -> UncertaintyEstimator:
        from mlip_gnn.uncertainty import (DISTANCE_FILE, LLPR, LLPR_FILE,
                                          DescriptorDistance)

        name = {"llpr": LLPR_FILE, "distance": DISTANCE_FILE}[kind]
        for run_dir in context.run_dirs:
            if not (Path(run_dir) / name).is_file():
                fit_run(Path(run_dir), kind, **context.options)
        return LLPR() if kind == "llpr" else DescriptorDistance()

    return factory


#: name → factory
ESTIMATORS: Dict[str, EstimatorFactory] = {
    "committee": _committee, "llpr": _single_model("llpr"),
    "distance": _single_model("distance")}


def register_estimator(name: str, factory: EstimatorFactory) -> None:
    """Make ``select.estimator: name`` build its estimator with ``factory``."""
    ESTIMATORS[name] = factory


def _import(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise EstimatorError(f"select.estimator: cannot import {path!r} ({err})") from None


def make_estimator(name: str, context: EstimatorContext) -> UncertaintyEstimator:
    """The estimator ``name`` (registered, or ``module:factory``) for ``context``; checked
    against the number of models."""
    if name in ESTIMATORS:
        factory = ESTIMATORS[name]
    elif ":" in name:
        factory = _import(name)
    else:
        raise EstimatorError(f"select.estimator: unknown estimator {name!r}; registered: "
                             f"{', '.join(sorted(ESTIMATORS))} (or give 'module:factory')")
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
