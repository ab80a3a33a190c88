"""Named per-atom features of an eager model, recorded with forward hooks while it runs.

Names (``i`` = layer index, from 0):

- ``node_features.<i>`` [n, d_i]: the node features after interaction layer ``i``; they are
  also the input of that layer's scalar readout.
- ``readout_hidden.<i>`` [n, h]: the input of the final linear map of readout ``i``, for
  readouts with a hidden layer (the last one): the "last-layer" features that a linear
  uncertainty estimate (LLPR) or a descriptor distance works on.

The model is read, never changed: hooks are removed when recording ends. TorchScript
exports carry no hooks; their features are not available (yet).
"""

from __future__ import annotations

import contextlib
from typing import Dict, Iterator, List

import torch

from mlip_gnn.errors import MlipGnnError

__all__ = ["FeaturesUnavailableError", "feature_modules", "record_features"]


class FeaturesUnavailableError(MlipGnnError, ValueError):
    """Raised when features are asked of a model that cannot give them: a TorchScript
    export (features are eager-only for now: load the checkpoint or run directory instead)
    or a module without interaction layers."""


def _potential(module: torch.nn.Module, name: str) -> torch.nn.Module:
    if isinstance(module, torch.jit.ScriptModule):
        raise FeaturesUnavailableError(
            f"{name}: per-atom features need an eager model; this is a TorchScript export. "
            "Pass its checkpoint or run directory instead.")
    potential = getattr(module, "model", module)  # a DeployedPotential wraps the potential
    if not isinstance(getattr(potential, "layers", None), torch.nn.ModuleList):
        raise FeaturesUnavailableError(f"{name}: model {type(potential).__name__} has no "
                                       "interaction layers ('layers') to read features from")
    return potential


def feature_modules(module: torch.nn.Module, name: str = "model"
                    ) -> Dict[str, torch.nn.Module]:
    """Feature name → the submodule whose output (``node_features``) or input
    (``readout_hidden``) is that feature."""
    potential = _potential(module, name)
    out: Dict[str, torch.nn.Module] = {}
    for i, layer in enumerate(potential.layers):
        out[f"node_features.{i}"] = layer
        final = getattr(getattr(layer, "readout", None), "out", None)
        if isinstance(final, torch.nn.Linear):
            out[f"readout_hidden.{i}"] = final
    return out


def _store(features: Dict[str, torch.Tensor], name: str, value, detach: bool) -> None:
    tensor = value[0] if isinstance(value, (tuple, list)) else value
    features[name] = tensor.detach() if detach else tensor


@contextlib.contextmanager
def record_features(module: torch.nn.Module, name: str = "model", detach: bool = True
                    ) -> Iterator[Dict[str, torch.Tensor]]:
    """Within the block, every forward of ``module`` fills the yielded dict with its
    per-atom features (in the model's dtype; ``detach=False`` keeps them in the autograd
    graph, for their derivatives with respect to positions); hooks are removed on exit."""
    features: Dict[str, torch.Tensor] = {}
    handles: List[torch.utils.hooks.RemovableHandle] = []
    try:
        for feature, submodule in feature_modules(module, name).items():
            if feature.startswith("readout_hidden"):
                handles.append(submodule.register_forward_pre_hook(
                    lambda _m, args, f=feature: _store(features, f, args, detach)))
            else:
                handles.append(submodule.register_forward_hook(
                    lambda _m, _args, out, f=feature: _store(features, f, out, detach)))
        yield features
    finally:
        for handle in handles:
            handle.remove()
