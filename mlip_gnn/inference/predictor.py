"""The one inference path: structure → graph (:mod:`mlip_gnn.data.graph`) → every member
→ mean, per-member outputs, optional features, and the estimator's uncertainty.

The calculator, the committee, ``mlip-gnn evaluate`` and ``mlip-gnn md`` all predict
through :class:`Predictor`.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import os
from typing import List, Sequence

import numpy as np
import torch

from mlip_gnn.data import (AtomicGraph, DataError, SpeciesTable, graph_from_configuration,
                           keys)
from mlip_gnn.data.configuration import Configuration
from mlip_gnn.inference.features import record_features
from mlip_gnn.inference.members import (CommitteeError, Member, ModelSource, common_r_max,
                                        common_species, common_spin, load_member)
from mlip_gnn.inference.outputs import (MemberOutput, ModelInputs, Prediction,
                                        UncertaintyEstimator)
from mlip_gnn.model import compile_energy
from mlip_gnn.modelio import describe_device, resolve_device

__all__ = ["Predictor", "source_list"]

_log = logging.getLogger(__name__)


def source_list(sources: ModelSource | Sequence[ModelSource]) -> List[ModelSource]:
    """One model source or several → a list of sources."""
    if isinstance(sources, (str, os.PathLike, torch.nn.Module)):
        return [sources]
    return list(sources)



class Predictor:
    """One model or a committee, evaluated on one structure at a time.

    ``sources``: exported files, checkpoints, run directories or in-memory potentials;
    their specs must agree on r_max (:class:`~mlip_gnn.inference.CommitteeError`).
    ``estimator``: how uncertainty is computed from the members' outputs (None: none).
    ``compile``: run eager members' energies through ``torch.compile``
    (:func:`~mlip_gnn.model.compile_energy`); a TorchScript export stays as it is, with a
    warning.
    """

    def __init__(self, sources: ModelSource | Sequence[ModelSource],
                 device: str | torch.device = "auto", use_ema: bool = True,
                 estimator: UncertaintyEstimator | None = None, compile: bool = False):
        sources = source_list(sources)
        if not sources:
            raise CommitteeError("give at least one model")
        self.device = resolve_device(device)
        _log.info("models on %s", describe_device(device, self.device))
        self.members: List[Member] = [load_member(s, self.device, use_ema) for s in sources]
        if compile:
            for member in self.members:
                _compile_member(member)
        self.r_max = common_r_max(self.members)
        self.species = SpeciesTable(common_species(self.members))
        #: whether the members read collinear moments (all of them or none)
        self.spin = common_spin(self.members)
        if estimator is not None:
            estimator.check(len(self.members))
            estimator.bind(self.members)
        self.estimator = estimator

    def __len__(self) -> int:
        return len(self.members)

    @property
    def models(self) -> List[torch.nn.Module]:
        """The members' modules, in order."""
        return [m.module for m in self.members]

    @property
    def atomic_numbers(self) -> List[int]:
        """Elements every member knows."""
        return list(self.species.atomic_numbers)

    def graph(self, conf: Configuration) -> AtomicGraph:
        """``conf`` as a graph with the committee's cutoff; raises
        :class:`~mlip_gnn.data.DataError` for overlapping atoms and
        :class:`~mlip_gnn.data.UnknownSpeciesError` for an element a member lacks (both
        name ``conf.source``)."""
        if self.spin and conf.magmoms is None:
            raise DataError(f"{conf.source}: the model reads collinear magnetic moments "
                            "(spin 'collinear') but the structure has none; set them "
                            "(atoms.set_initial_magnetic_moments, or the per-atom array "
                            "initial_magmoms)")
        if not self.spin and conf.magmoms is not None:
            conf = dataclasses.replace(conf, magmoms=None, magnetic_forces=None)
        return graph_from_configuration(conf, self.r_max, self.species, torch.float64)

    def model_inputs(self, conf: Configuration) -> ModelInputs:
        """The arguments the members are called with on ``conf`` (see :meth:`graph`)."""
        return self._inputs(self.graph(conf))

    def predict(self, conf: Configuration, features: bool = False) -> Prediction:
        """Every member on ``conf``; ``features``: record each member's per-atom features
        (eager members only; also done when the estimator needs them)."""
        graph = self.graph(conf)
        with_features = features or bool(self.estimator and self.estimator.needs_features)
        inputs = self._inputs(graph)
        outputs = [self._run(member, inputs, with_features) for member in self.members]
        uncertainty = (self.estimator.estimate_from(inputs, outputs) if self.estimator
                       else None)
        return Prediction.mean_of(outputs, uncertainty)

    def _inputs(self, graph: AtomicGraph) -> ModelInputs:
        """The exported interface's arguments: positions, atomic numbers, edges, shifts,
        cell (zero along non-periodic directions) and whether to compute the stress."""
        pbc = graph[keys.PBC][0]  # [3]
        cell = graph[keys.CELL][0] * pbc[:, None]  # [3, 3] Å
        has_volume = bool(pbc.all()) and abs(float(torch.linalg.det(cell))) > 0.0
        numbers = torch.tensor(self.species.atomic_numbers)[graph[keys.SPECIES]]
        device = self.device
        magmoms = graph[keys.MAGMOMS].to(device) if keys.MAGMOMS in graph else None
        return (graph[keys.POSITIONS].to(device), numbers.to(device),
                graph[keys.EDGE_INDEX].to(device), graph[keys.EDGE_CELL_SHIFT].to(device),
                cell.to(device), has_volume, magmoms,
                graph[keys.TOTAL_CHARGE][0].to(device))

    def _run(self, member: Member, args: ModelInputs, features: bool) -> MemberOutput:
        recording = (record_features(member.module, member.name) if features
                     else contextlib.nullcontext({}))
        # a spin-free export may predate the moments argument: it gets the first six;
        # only a long-range model takes the total charge
        long_range = str(getattr(member.module, "long_range", "none")) != "none"
        call = args if long_range else (args[:7] if args[6] is not None else args[:6])
        with recording as recorded:
            out = member.module(*call)
        magnetic = out.get(keys.MAGNETIC_FORCES)
        return MemberOutput(
            energy=float(_numpy(out[keys.TOTAL_ENERGY])),
            energies=_numpy(out[keys.ATOMIC_ENERGIES]), forces=_numpy(out[keys.FORCES]),
            stress=_numpy(out[keys.STRESS]) if args[5] else None,
            features={name: _numpy(value) for name, value in recorded.items()},
            magnetic_forces=None if magnetic is None else _numpy(magnetic),
            charges=_numpy(out[keys.CHARGES]) if keys.CHARGES in out else None)


def _compile_member(member: Member) -> None:
    if member.is_scripted or not hasattr(member.module, "model"):
        _log.warning("%s is an exported file and is not compiled again; give its "
                     "checkpoint or run directory to compile it", member.name)
        return
    # a copy: an in-memory model handed in by the caller stays as it was (and exportable)
    member.module.model = compile_energy(copy.deepcopy(member.module.model))


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float64).numpy()
