"""Uncertainty estimators by name, for ``select.estimator`` in AL.yaml.

An entry is a factory ``(context) -> UncertaintyEstimator`` that gets the iteration's
trained run directories and training set; an estimator that is fitted after training
(last-layer, descriptor distance) loads or fits itself there. New kinds are added with
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
           "make_estimator"]


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


#: name → factory
ESTIMATORS: Dict[str, EstimatorFactory] = {"committee": _committee}


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
