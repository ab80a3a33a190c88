"""A committee: the inference path with the committee spread as its uncertainty."""

from __future__ import annotations

from typing import Sequence

from mlip_gnn.inference import ModelSource, Predictor, UncertaintyEstimator
from mlip_gnn.inference.predictor import source_list
from mlip_gnn.uncertainty import CommitteeSpread, make_estimator

__all__ = ["Committee", "ModelSource", "default_estimator"]


def default_estimator(num_models: int) -> UncertaintyEstimator | None:
    """The committee spread for two or more models; none for one."""
    return CommitteeSpread() if num_models > 1 else None


class Committee(Predictor):
    """Models (exported files, checkpoints, run directories or in-memory potentials) that
    are evaluated on the same structure, through one graph built with their common r_max.

    :meth:`predict` returns a :class:`~mlip_gnn.inference.Prediction`: the committee mean
    of ``energy`` (eV), ``energies`` [n] (eV), ``forces`` [n, 3] (eV/Å) and, for a cell with
    volume, ``stress`` [3, 3] (eV/Å³); each member's outputs; and with two or more models
    (unless ``estimator`` says otherwise) the committee spread (population standard
    deviations; see :class:`~mlip_gnn.uncertainty.CommitteeSpread`).

    ``estimator``: an :class:`~mlip_gnn.inference.UncertaintyEstimator` or its name in
    :data:`mlip_gnn.uncertainty.ESTIMATORS` (``committee``, ``llpr``, ``distance``; the
    single-model ones find their fit beside the checkpoint or in the run directory).
    """

    def __init__(self, sources: ModelSource | Sequence[ModelSource], device: str = "auto",
                 use_ema: bool = True,
                 estimator: str | UncertaintyEstimator | None = None,
                 compile: bool = False):
        sources = source_list(sources)
        estimator = make_estimator(estimator)
        if estimator is None:
            estimator = default_estimator(len(sources))
        super().__init__(sources, device, use_ema, estimator, compile)
