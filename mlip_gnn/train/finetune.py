"""Fine-tuning: a run that starts from a trained model's weights (``model.init_from``).

- The spec is the pretrained model's (architecture, r_max, dtype, dataset statistics,
  E0s); the config must ask for the same, and the training data may bring new elements,
  which get fresh embedding and product weights and E0s fitted with the old ones held fixed.
- Weights are copied tensor by tensor; a tensor indexed by species (embedding, per-species
  product weights, E0s, ...) gets the old rows at the old elements' new positions, so a
  structure of old elements has the same energy at step 0.
- ``finetune.freeze`` keeps parts fixed (for a tensor that grew new rows, only the old
  rows), ``finetune.reinit`` starts parts afresh, and ``finetune.pretrained_lr_factor``
  scales the learning rate of the pretrained weights (the schedule multiplies each
  parameter group's ``lr_factor``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from pathlib import Path
from typing import Dict, List, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from mlip_gnn.config import FREEZE_PARTS, ConfigError
from mlip_gnn.data import Configuration, DataError, SpeciesTable, reference_energies
from mlip_gnn.modelio import (CheckpointError, ModelSpec, ModelSpecError, find_checkpoint,
                              load_checkpoint, spec_from_state)
from mlip_gnn.train.optim import SPARED_KEY

__all__ = ["Pretrained", "load_pretrained", "finetune_spec", "transfer_weights",
           "part_names", "freeze_parts", "parameter_groups", "describe", "PART_PATTERNS"]

_log = logging.getLogger(__name__)

#: part name → regular expression on parameter names (``layers.N`` is matched apart)
PART_PATTERNS: Dict[str, str] = {
    "embedding": r"embedding\.",
    "radial": r"layers\.\d+\.interaction\.radial\.",
    "interactions": r"layers\.\d+\.(interaction|product|update)\.",
    "products": r"layers\.\d+\.product\.",
    "readouts": r"layers\.\d+\.readout\.",
}
assert tuple(PART_PATTERNS) == FREEZE_PARTS  # one list of names for config and trainer


@dataclasses.dataclass
class Pretrained:
    """A trained model to start from: its spec, its weights (EMA when stored) and where it
    came from."""

    spec: ModelSpec
    weights: Dict[str, torch.Tensor]
    path: Path


def load_pretrained(path: os.PathLike) -> Pretrained:
    """The checkpoint at ``path`` (a run directory: its ``best.pt``, else ``last.pt``)."""
    try:
        checkpoint = find_checkpoint(path)
    except CheckpointError as exc:
        raise ConfigError(f"model.init_from: {exc}", field="model.init_from") from None
    state = load_checkpoint(checkpoint)
    spec = spec_from_state(state, checkpoint)
    ema = state.get("ema")
    weights = ema["shadow"] if ema else state["model"]
    return Pretrained(spec, dict(weights), checkpoint)


def _new_e0s(train: Sequence[Configuration], old_e0s: Mapping[int, float],
             new_species: Sequence[int], method) -> Dict[int, float]:
    """E0s of the elements new to the model, from ``method`` (``data.e0s``); a least-squares
    fit holds the old elements' E0s fixed, so their energies keep their meaning."""
    if not new_species:
        return {}
    if method != "least_squares":
        return reference_energies(train, SpeciesTable(new_species),
                                  {z: method[z] for z in new_species if z in method}
                                  if isinstance(method, Mapping) else method)
    rows, targets = [], []
    for conf in train:
        if conf.energy is None:
            continue
        numbers = conf.atomic_numbers
        rows.append([np.count_nonzero(numbers == z) for z in new_species])
        targets.append(conf.energy - sum(old_e0s.get(int(z), 0.0) for z in numbers))
    counts = np.asarray(rows, dtype=np.float64).reshape(-1, len(new_species))
    if counts.size == 0 or np.linalg.matrix_rank(counts) < len(new_species):
        raise DataError(f"cannot fit E0s for the new element(s) {list(new_species)}: too few "
                        "labelled frames with them; give data.e0s as a mapping")
    fit = np.linalg.lstsq(counts, np.asarray(targets), rcond=None)[0]
    return {z: float(e) for z, e in zip(new_species, fit)}


def finetune_spec(pretrained: Pretrained, changes: List[str], species: SpeciesTable,
                  train: Sequence[Configuration], e0_method) -> ModelSpec:
    """The spec of a run starting from ``pretrained``: its own, grown by the elements of
    ``species`` it lacks. ``changes``: what the config asks for that differs from the
    pretrained spec (refused with :class:`ModelSpecError`)."""
    if changes:
        raise ModelSpecError(
            f"model.init_from {pretrained.path}: the config asks for another model than the "
            f"one stored there ({'; '.join(changes)}; stored -> config). Set these values "
            "as stored to fine-tune it.")
    old = pretrained.spec
    new_species = [z for z in species.atomic_numbers if z not in old.species]
    e0s = {**old.e0s, **_new_e0s(train, old.e0s, new_species, e0_method)}
    if new_species:
        _log.info("fine-tuning adds element(s) %s (E0s %s eV) to the model of %s",
                  new_species, {z: round(e0s[z], 6) for z in new_species}, pretrained.path)
    return old.replace(species=tuple(old.species) + tuple(new_species), e0s=e0s)


def _species_dims(source: torch.Tensor, target: torch.Tensor, n_old: int, n_new: int,
                  name: str) -> List[int]:
    if source.dim() != target.dim():
        raise CheckpointError(f"weights {name}: shape {tuple(source.shape)} cannot start a "
                              f"model whose tensor is {tuple(target.shape)}")
    dims = [d for d in range(source.dim()) if source.shape[d] != target.shape[d]]
    if any(source.shape[d] != n_old or target.shape[d] != n_new for d in dims) or len(dims) > 1:
        raise CheckpointError(f"weights {name}: shape {tuple(source.shape)} cannot start a "
                              f"model whose tensor is {tuple(target.shape)}")
    return dims


@torch.no_grad()
def transfer_weights(model: nn.Module, weights: Mapping[str, torch.Tensor],
                     old_species: Sequence[int], new_species: Sequence[int],
                     skip: Sequence[str] = ()) -> Dict[str, int]:
    """Copy ``weights`` (of a model for ``old_species``) into ``model`` (built for
    ``new_species``, a superset; both sorted, so the old elements keep their relative
    order); tensors named
    in ``skip`` keep their fresh values. Returns the species dimension of every tensor that
    grew."""
    rows = torch.tensor([list(new_species).index(z) for z in old_species])
    state = model.state_dict()
    missing = sorted(set(state) - set(weights))
    unexpected = sorted(set(weights) - set(state))
    if missing or unexpected:
        raise CheckpointError(f"the pretrained weights do not fit the model: missing "
                              f"{missing[:4]}, unexpected {unexpected[:4]}")
    grown: Dict[str, int] = {}
    for name, target in state.items():
        if name in skip:
            continue
        source = weights[name].to(target.device, target.dtype)
        if source.shape == target.shape:
            target.copy_(source)
            continue
        (dim,) = _species_dims(source, target, len(old_species), len(new_species), name)
        target.index_copy_(dim, rows.to(target.device), source)
        grown[name] = dim
    return grown


def part_names(model: nn.Module, parts: Sequence[str],
               field: str = "finetune.freeze") -> List[str]:
    """Names of the parameters (and buffers) that belong to ``parts``; ``field`` is the
    config entry that an error names."""
    patterns = []
    for part in parts:
        if part in PART_PATTERNS:
            patterns.append(PART_PATTERNS[part])
        elif re.fullmatch(r"layers\.\d+", part):
            index = int(part.split(".")[1])
            if index >= len(getattr(model, "layers", ())):
                raise ConfigError(f"{field}: part {part!r} names no layer; the model has "
                                  f"{len(model.layers)}", field=field)
            patterns.append(re.escape(part) + r"\.")
        else:
            raise ConfigError(f"{field}: unknown part {part!r}; valid: "
                              f"{', '.join(PART_PATTERNS)} or layers.N", field=field)
    names = [name for name in model.state_dict()
             if any(re.match(p, name) for p in patterns)]
    return names


def _keep_rows(rows: torch.Tensor, dim: int):
    def hook(grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        grad.index_fill_(dim, rows.to(grad.device), 0.0)
        return grad
    return hook


def freeze_parts(model: nn.Module, parts: Sequence[str], grown: Mapping[str, int],
                 old_rows: Sequence[int]) -> List[str]:
    """Stop training ``parts``; a tensor that grew rows for new elements keeps training
    those rows only (its gradient is zeroed at ``old_rows``). Returns the names of the
    fully frozen parameters."""
    frozen = []
    selected = set(part_names(model, parts))
    rows = torch.tensor(list(old_rows), dtype=torch.long)
    for name, param in model.named_parameters():
        if name not in selected:
            continue
        if name in grown:
            param.register_hook(_keep_rows(rows, grown[name]))
        else:
            param.requires_grad_(False)
            frozen.append(name)
    return frozen


def parameter_groups(model: nn.Module, fresh: Sequence[str], pretrained_lr_factor: float,
                     partly_frozen: Sequence[str] = ()) -> List[dict]:
    """Optimiser parameter groups: ``pretrained`` (``lr_factor`` = the factor), ``fresh``
    (parameters in ``fresh``: factor 1) and ``partly_frozen`` (grown tensors whose old rows
    are frozen: no weight decay, which would move the frozen rows)."""
    groups: Dict[str, List[nn.Parameter]] = {"pretrained": [], "fresh": [],
                                             "partly_frozen": []}
    fresh, partly = set(fresh), set(partly_frozen)
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        key = "fresh" if name in fresh else "partly_frozen" if name in partly else "pretrained"
        groups[key].append(param)
    factors = {"pretrained": pretrained_lr_factor, "fresh": 1.0,
               "partly_frozen": pretrained_lr_factor}
    out = []
    for key, params in groups.items():
        if params:
            group = {"params": params, "name": key, "lr_factor": factors[key]}
            if key == "partly_frozen":
                group.update(weight_decay=0.0, **{SPARED_KEY: True})
            out.append(group)
    if not out:
        raise ConfigError("finetune.freeze leaves no parameter to train",
                          field="finetune.freeze")
    return out


def describe(groups: Sequence[dict], frozen: Sequence[str]) -> str:
    """One log line: parameters per group with their lr factor, and the frozen count."""
    counts = ", ".join(f"{g['name']} {sum(p.numel() for p in g['params'])} "
                       f"(lr x{g['lr_factor']:g})" for g in groups)
    return f"parameters: {counts}; frozen tensors: {len(frozen)}"
