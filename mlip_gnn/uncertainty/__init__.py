"""Uncertainty estimators: implementations of
:class:`~mlip_gnn.inference.UncertaintyEstimator` that the inference path takes as a
pluggable part. The committee spread is the first; estimators from a model's features
(last-layer, descriptor distance) go here too.
"""

from mlip_gnn.inference import Uncertainty, UncertaintyEstimator
from mlip_gnn.uncertainty.committee import CommitteeSpread

__all__ = ["UncertaintyEstimator", "Uncertainty", "CommitteeSpread"]
