"""Uncertainty estimators: implementations of
:class:`~mlip_gnn.inference.UncertaintyEstimator` that the inference path takes as a
pluggable part, all reporting a per-structure energy uncertainty (eV), a per-atom force
uncertainty (eV/Å) and a per-atom out-of-distribution score:

- ``committee``: the spread of independently trained models (:class:`CommitteeSpread`);
- ``llpr``: last-layer prediction rigidity of one model (:class:`LLPR`);
- ``distance``: distance of each atom's features to the training set's
  (:class:`DescriptorDistance`).

The single-model estimators are fitted after training (``mlip-gnn uncertainty fit
RUN_DIR``, :func:`fit_estimators`) and found beside the checkpoint when it is loaded.
``mlip-gnn export`` puts the LLPR fit into the TorchScript file, so that the export alone
gives the LLPR uncertainty (:func:`attach_stored_llpr`).

>>> from mlip_gnn.calculators import MLIPCalculator  # doctest: +SKIP
>>> calc = MLIPCalculator("runs/cu", estimator="llpr")  # doctest: +SKIP
"""

from typing import Callable, Dict

from mlip_gnn.errors import MlipGnnError
from mlip_gnn.inference import Uncertainty, UncertaintyEstimator
from mlip_gnn.uncertainty.calibration import calibration_report
from mlip_gnn.uncertainty.committee import CommitteeSpread
from mlip_gnn.uncertainty.distance import DISTANCE_FILE, DescriptorDistance, DistanceState
from mlip_gnn.uncertainty.fit import KINDS, fit_estimators
from mlip_gnn.uncertainty.llpr import LLPR, LLPR_FILE, LLPRState, attach_stored_llpr
from mlip_gnn.uncertainty.store import EstimatorFitError

__all__ = ["UncertaintyEstimator", "Uncertainty", "CommitteeSpread", "LLPR", "LLPRState",
           "DescriptorDistance", "DistanceState", "EstimatorFitError", "ESTIMATORS",
           "UnknownEstimatorError", "make_estimator", "fit_estimators", "KINDS",
           "LLPR_FILE", "DISTANCE_FILE", "calibration_report", "attach_stored_llpr"]

#: estimator name → class (constructed without arguments: fits are found beside the model)
ESTIMATORS: Dict[str, Callable[[], UncertaintyEstimator]] = {
    "committee": CommitteeSpread, "llpr": LLPR, "distance": DescriptorDistance}


class UnknownEstimatorError(MlipGnnError, ValueError):
    """Raised for an estimator name that is not in :data:`ESTIMATORS`."""


def make_estimator(estimator: str | UncertaintyEstimator | None
                   ) -> UncertaintyEstimator | None:
    """An estimator from its name (see :data:`ESTIMATORS`); an instance or None as is."""
    if estimator is None or isinstance(estimator, UncertaintyEstimator):
        return estimator
    try:
        return ESTIMATORS[estimator]()
    except KeyError:
        raise UnknownEstimatorError(f"unknown uncertainty estimator {estimator!r}; valid: "
                                    f"{sorted(ESTIMATORS)}") from None
