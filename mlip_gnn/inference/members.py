"""Committee members: a model source loaded as a module with the exported interface, and
the model spec it was built with.

A model source is an exported TorchScript file, a checkpoint, a run directory or an
in-memory potential. :func:`load_member` is the one place that turns a source into a
member: a new model format (e.g. a compiled export) adds a branch there.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, Mapping, Sequence

import torch

from mlip_gnn.errors import MlipGnnError
from mlip_gnn.export import DeployedPotential, deploy, load_model
from mlip_gnn.modelio import ModelSpec, resolve_device

__all__ = ["ModelSource", "Member", "CommitteeError", "load_member", "common_r_max",
           "common_species", "common_spin", "member_spin"]

ModelSource = str | os.PathLike | torch.nn.Module


class CommitteeError(MlipGnnError, ValueError):
    """Raised when no model is given, or the members of a committee disagree on their
    cutoff r_max (the graph is built once, with one cutoff, for all of them)."""


@dataclasses.dataclass
class Member:
    """module: callable with :class:`~mlip_gnn.export.DeployedPotential`'s interface (eager
    or scripted); spec: species, r_max, dtype and E0s it was built with (the architecture
    only when the source carried it); name: where it came from, for messages."""

    module: torch.nn.Module
    spec: ModelSpec
    name: str

    @property
    def is_scripted(self) -> bool:
        """True for a TorchScript export, False for an eager model."""
        return isinstance(self.module, torch.jit.ScriptModule)


def _spec_from_metadata(meta: Mapping[str, Any]) -> ModelSpec:
    """The spec an export's (or a deployed module's) metadata describes."""
    symbols = meta.get("symbols") or []
    e0_by_symbol = meta.get("e0s") or {}
    e0s = {z: e0_by_symbol[s] for z, s in zip(meta["atomic_numbers"], symbols)
           if s in e0_by_symbol}
    return ModelSpec(meta["atomic_numbers"], meta["r_max"], meta["dtype"], e0s,
                     meta.get("architecture") or {})


def _deployed_metadata(module: torch.nn.Module) -> Dict[str, Any]:
    meta = json.loads(getattr(module, "metadata_json", "") or "{}")
    if "r_max" not in meta:  # deployed without metadata: what the module itself tells
        meta = {"atomic_numbers": list(module.atomic_numbers), "r_max": float(module.r_max),
                "dtype": module.model_dtype, "symbols": list(module.symbols)}
    return meta


def load_member(source: ModelSource, device: str | torch.device = "auto",
                use_ema: bool = True) -> Member:
    """Load ``source`` on ``device`` (``auto``: CUDA when available, see
    :func:`~mlip_gnn.modelio.resolve_device`; checkpoints: the EMA weights unless
    ``use_ema`` is False). Raises :class:`~mlip_gnn.export.ModelFileError` for a path that
    is not a model and :class:`~mlip_gnn.modelio.DeviceError` for a bad device."""
    device = str(resolve_device(device))
    if isinstance(source, torch.nn.Module):
        if isinstance(source, (DeployedPotential, torch.jit.ScriptModule)):  # deployed
            module = source.to(device)
            return Member(module, _spec_from_metadata(_deployed_metadata(module)),
                          type(source).__name__)
        module, meta = deploy(source, device)
        return Member(module, _spec_from_metadata(meta), type(source).__name__)
    module, meta = load_model(source, device=device, use_ema=use_ema)
    return Member(module, _spec_from_metadata(meta), os.fspath(source))


def common_r_max(members: Sequence[Member]) -> float:
    """The cutoff (Å) every member's spec gives; a disagreement is a :class:`CommitteeError`
    that lists each member's value."""
    values = {m.spec.r_max for m in members}
    if len(values) != 1:
        listing = ", ".join(f"{m.name}: {m.spec.r_max:g} Å" for m in members)
        raise CommitteeError(f"committee members disagree on r_max ({listing}); the "
                             "structure's graph is built once with one cutoff, so train "
                             "every member with the same data.r_max")
    return values.pop()


def common_species(members: Sequence[Member]) -> tuple:
    """Atomic numbers every member knows, sorted."""
    common = set(members[0].spec.species)
    for member in members[1:]:
        common &= set(member.spec.species)
    return tuple(sorted(common))


def member_spin(member: Member) -> bool:
    """Whether the member reads collinear moments (an export older than spin does not)."""
    return str(getattr(member.module, "spin", "none")) != "none"


def common_spin(members: Sequence[Member]) -> bool:
    """Whether the members read moments; a committee that mixes spin and spin-free
    members is a :class:`CommitteeError`."""
    kinds = {member_spin(m) for m in members}
    if len(kinds) != 1:
        listing = ", ".join(f"{m.name}: {'collinear' if member_spin(m) else 'none'}"
                            for m in members)
        raise CommitteeError(f"committee members disagree on spin ({listing}); use "
                             "models that all read moments or none")
    return kinds.pop()
