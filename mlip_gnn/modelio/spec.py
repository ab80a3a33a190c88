"""The model spec: everything needed to rebuild a model, as plain values.

A spec is built once when a run is set up (from the config and the training data), stored
in every checkpoint and in the export's metadata, and read by graph building, the trainer,
export and the calculator: species, cutoff, precision and reference energies have one
source. ``architecture`` holds every other keyword of the model builder (layers, channels,
... and the dataset statistics ``avg_num_neighbors``, ``scale``, ``shift``) as a plain dict
that is passed through unchanged, so a new builder argument needs no change here.

The keys of ``UNSTORED_ARCHITECTURE`` (:mod:`mlip_gnn.defaults`) changed their default after
models had been stored without them: a spec always holds them (the builder's default when
not given), and a stored spec that lacks them is read with the value its model was built
with (``init_scheme: legacy``). An empty architecture stands for an unknown one (a module
that came without a spec) and stays empty.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Dict, List, Mapping, Tuple

import torch
from torch import nn

from mlip_gnn.data import SpeciesTable
from mlip_gnn.defaults import ARCHITECTURE, UNSTORED_ARCHITECTURE
from mlip_gnn.errors import MlipGnnError
from mlip_gnn.model import DTYPES

__all__ = ["ModelSpec", "ModelSpecError", "build_from_spec", "ModelFactory"]

ModelFactory = Callable[..., nn.Module]
_OWN_FIELDS = ("species", "r_max", "dtype", "e0s")


class ModelSpecError(MlipGnnError):
    """Raised when a spec is malformed (no species, non-positive cutoff, unknown dtype,
    an architecture key that shadows a spec field) or does not match what a run asks for."""


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """species: atomic numbers, sorted; r_max: cutoff, Å; dtype: ``"float32"`` or
    ``"float64"``; e0s: atomic number → isolated-atom reference energy, eV (missing: 0);
    architecture: the model builder's other keyword arguments (plain values)."""

    species: Tuple[int, ...]
    r_max: float
    dtype: str
    e0s: Mapping[int, float] = dataclasses.field(default_factory=dict)
    architecture: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        species = tuple(sorted({int(z) for z in self.species}))
        if not species:
            raise ModelSpecError("model spec: 'species' must list at least one atomic number")
        r_max = float(self.r_max)
        if not (math.isfinite(r_max) and r_max > 0.0):
            raise ModelSpecError(f"model spec: r_max {self.r_max!r} must be a positive number "
                                 "of Å")
        if self.dtype not in DTYPES:
            raise ModelSpecError(f"model spec: dtype {self.dtype!r}; choose one of "
                                 f"{sorted(DTYPES)}")
        shadowing = sorted(set(self.architecture) & set(_OWN_FIELDS))
        if shadowing:
            raise ModelSpecError(f"model spec: architecture key(s) {shadowing} are spec "
                                 "fields of their own")
        object.__setattr__(self, "species", species)
        object.__setattr__(self, "r_max", r_max)
        object.__setattr__(self, "e0s", {int(z): float(e) for z, e in self.e0s.items()})
        architecture = dict(self.architecture)
        if architecture:  # written now: the builder's current defaults, stored explicitly
            architecture = {**{k: ARCHITECTURE[k] for k in UNSTORED_ARCHITECTURE},
                            **architecture}
        object.__setattr__(self, "architecture", architecture)

    @property
    def torch_dtype(self) -> torch.dtype:
        """The model's precision as a torch dtype."""
        return DTYPES[self.dtype]

    def species_table(self) -> SpeciesTable:
        """The species table of the model's elements."""
        return SpeciesTable(self.species)

    def replace(self, **changes: Any) -> ModelSpec:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    def builder_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments of :func:`mlip_gnn.model.build_model` (plain values)."""
        return {"species": list(self.species), "r_max": self.r_max, "e0s": dict(self.e0s),
                "dtype": self.dtype, **self.architecture}

    def to_dict(self) -> Dict[str, Any]:
        """Plain values only, so ``torch.load(weights_only=True)`` and JSON read it back."""
        return {"species": list(self.species), "r_max": self.r_max, "dtype": self.dtype,
                "e0s": dict(self.e0s), "architecture": dict(self.architecture)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelSpec:
        """The spec of :meth:`to_dict`'s output; ModelSpecError for missing or unknown fields.
        A stored architecture that lacks keys of ``UNSTORED_ARCHITECTURE`` predates them:
        they get the value its model was built with (``init_scheme: legacy``)."""
        return cls._from_plain(d, UNSTORED_ARCHITECTURE)

    @classmethod
    def from_builder_kwargs(cls, kwargs: Mapping[str, Any]) -> ModelSpec:
        """The spec of :func:`~mlip_gnn.model.build_model`'s keyword arguments (the model
        they build now: keys left out take the builder's current defaults)."""
        kwargs = dict(kwargs)
        own = {name: kwargs.pop(name) for name in _OWN_FIELDS if name in kwargs}
        return cls._from_plain({**own, "architecture": kwargs}, {})

    @classmethod
    def _from_plain(cls, d: Mapping[str, Any], unstored: Mapping[str, Any]) -> ModelSpec:
        """The spec of plain values; ``unstored``: values of architecture keys it lacks."""
        missing = [name for name in ("species", "r_max", "dtype") if name not in d]
        if missing:
            raise ModelSpecError(f"model spec: missing {missing}")
        unknown = sorted(set(d) - {*_OWN_FIELDS, "architecture"})
        if unknown:
            raise ModelSpecError(f"model spec: unknown field(s) {unknown}")
        e0s = {int(z): float(e) for z, e in (d.get("e0s") or {}).items()}
        architecture = dict(d.get("architecture") or {})
        if architecture:
            architecture = {**unstored, **architecture}
        return cls(d["species"], d["r_max"], d["dtype"], e0s, architecture)

    def differences(self, other: ModelSpec) -> List[str]:
        """``field: self -> other`` for every field that differs (architecture keys as
        ``architecture.<name>``)."""
        a, b = _flat(self), _flat(other)
        return [f"{name}: {a.get(name, '<unset>')!r} -> {b.get(name, '<unset>')!r}"
                for name in sorted(set(a) | set(b)) if a.get(name) != b.get(name)]


def _flat(spec: ModelSpec) -> Dict[str, Any]:
    out: Dict[str, Any] = {"species": list(spec.species), "r_max": spec.r_max,
                           "dtype": spec.dtype, "e0s": dict(spec.e0s)}
    out.update({f"architecture.{k}": v for k, v in spec.architecture.items()})
    return out


def build_from_spec(spec: ModelSpec, factory: ModelFactory | None = None) -> nn.Module:
    """Call ``factory`` (default :func:`mlip_gnn.model.build_model`) with the spec's
    builder arguments."""
    if factory is None:
        from mlip_gnn.model import build_model as factory
    return factory(**spec.builder_kwargs())
