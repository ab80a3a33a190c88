"""The last-layer features of a potential: what enters its energy linearly.

The potential's per-atom energy is (:class:`~mlip_gnn.model.Potential`)

    E_i = scale[z_i] · Σ_t readout_t(h_i^t) + shift[z_i] + E0[z_i] (+ ZBL),

where a readout without a hidden layer is a linear map of the scalar (0e) channels of
h^t, and the last layer's readout is ``out(silu(linear(h)))`` with ``out`` linear. So with

    f_i = scale[z_i] · [h^0_i scalars, ..., silu(linear(h^T_i))]        [d]
    w   = [the linear readouts' weights, out.weight]                    [d]

E_i = w·f_i + shift + E0 (+ ZBL) exactly: f_i are the features a last-layer estimator
(LLPR) or a descriptor distance works on. The structure's features are f(A) = Σ_i f_i.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Tuple

import torch

from mlip_gnn.inference import FeaturesUnavailableError, ModelInputs, record_features
from mlip_gnn.model.derivatives import forces_from_edge_gradients

__all__ = ["ReadoutPart", "readout_parts", "readout_weights", "last_layer_features",
           "FeaturePass", "feature_pass", "structure_features"]


@dataclasses.dataclass
class ReadoutPart:
    """One layer's share of f: the recorded feature ``name`` and, for a linear readout of
    node features, the ``columns`` of its scalar channels (None: all of them)."""

    name: str
    columns: List[int] | None
    weight: torch.Tensor  # [d_t] float64: the readout's effective linear weights


def _potential(module: torch.nn.Module) -> torch.nn.Module:
    potential = getattr(module, "model", module)  # a DeployedPotential wraps it
    if isinstance(potential, torch.jit.ScriptModule) or not hasattr(potential, "layers"):
        raise FeaturesUnavailableError(
            "last-layer features need an eager model (a checkpoint or run directory), "
            f"not {type(potential).__name__}")
    return potential


def readout_parts(module: torch.nn.Module) -> List[ReadoutPart]:
    """The readouts of ``module`` (a potential or its deployed wrapper), layer by layer."""
    potential = _potential(module)
    parts = []
    for t, layer in enumerate(potential.layers):
        readout = layer.readout
        if readout.hidden > 0:
            weight = readout.out.weight.detach()[0]  # [h]
            parts.append(ReadoutPart(f"readout_hidden.{t}", None,
                                     weight.to(torch.float64).clone()))
            continue
        irreps = readout.linear.irreps_in
        columns = readout.scalar_columns.tolist()
        dtype = next(readout.linear.parameters()).dtype
        with torch.no_grad():  # e3nn's normalisation included: the map applied to a basis
            basis = torch.eye(irreps.dim, dtype=dtype)
            weight = readout.linear(basis)[columns, 0]
        parts.append(ReadoutPart(f"node_features.{t}", columns,
                                 weight.to(torch.float64).clone()))
    return parts


def readout_weights(module: torch.nn.Module) -> torch.Tensor:
    """w [d] float64: E_i = w·f_i + shift + E0 (+ ZBL)."""
    return torch.cat([part.weight for part in readout_parts(module)])


def last_layer_features(recorded: Dict[str, torch.Tensor], parts: List[ReadoutPart],
                        scale: torch.Tensor) -> torch.Tensor:
    """f [n, d] from the features :func:`~mlip_gnn.inference.record_features` recorded;
    ``scale`` [n]: the per-atom energy scale scale[z_i]."""
    pieces = []
    for part in parts:
        value = recorded[part.name]
        pieces.append(value if part.columns is None else value[:, part.columns])
    return scale.unsqueeze(-1) * torch.cat(pieces, dim=-1)


@dataclasses.dataclass
class FeaturePass:
    """One forward pass of a potential that keeps f in the autograd graph."""

    features: torch.Tensor  # [n, d] f_i, model dtype, differentiable w.r.t. edge_vectors
    atomic_energies: torch.Tensor  # [n] eV
    edge_vectors: torch.Tensor  # [e, 3] Å, the leaf the derivatives are taken against
    edge_index: torch.Tensor  # [2, e]

    def forces_of(self, directions: torch.Tensor) -> torch.Tensor:
        """-∂(u_k · Σ_i f_i)/∂r for every row u_k of ``directions`` [k, d] →
        [k, n, 3] (eV/Å per unit weight): the forces a change u_k of the readout weights
        would add."""
        total = self.features.sum(dim=0).to(directions.dtype)  # [d]
        projected = directions @ total  # [k]
        rows = []
        n = self.features.shape[0]
        for k in range(directions.shape[0]):
            (grad,) = torch.autograd.grad(projected[k], self.edge_vectors,
                                          retain_graph=k + 1 < directions.shape[0],
                                          allow_unused=True)
            if grad is None:  # no edges
                grad = torch.zeros_like(self.edge_vectors)
            rows.append(forces_from_edge_gradients(grad, self.edge_index, n))
        return torch.stack(rows) if rows else torch.zeros(0, n, 3)


def feature_pass(module: torch.nn.Module, inputs: ModelInputs, parts: List[ReadoutPart],
                 gradients: bool = True) -> FeaturePass:
    """Run ``module`` (an eager :class:`~mlip_gnn.export.DeployedPotential`, as a
    :class:`~mlip_gnn.inference.Member` holds it) on ``inputs`` recording f; with
    ``gradients`` the edge vectors are a leaf that f can be differentiated against."""
    potential = _potential(module)
    if getattr(potential, "long_range", None) is not None:
        raise FeaturesUnavailableError(
            "last-layer uncertainties (llpr, readout) do not cover a long-range model's "
            "electrostatic term; use a committee or the distance estimator")
    positions, numbers, edge_index, shifts, cell = inputs[:5]
    magmoms = inputs[6]
    dtype, device = potential.e0.dtype, potential.e0.device  # the model's
    positions = positions.to(device=device, dtype=dtype)
    species = module.species(numbers.to(device))
    edge_index = edge_index.to(device=device, dtype=torch.long)
    sender, receiver = edge_index[0], edge_index[1]
    vectors = (positions[receiver] - positions[sender]
               + shifts.to(device=device, dtype=dtype) @ cell.to(device=device, dtype=dtype))
    vectors = vectors.detach().requires_grad_(gradients)
    with torch.set_grad_enabled(gradients), \
            record_features(module, detach=not gradients) as recorded:
        # the class's function: eager even when the instance's energy is compiled
        # (mlip_gnn.model.compile_energy), so that the hooks see every layer
        energies = type(potential).atomic_energies(potential, vectors, species, edge_index,
                                                   magmoms)
        features = last_layer_features(recorded, parts, potential.scale[species].to(dtype))
    return FeaturePass(features, energies.detach(), vectors, edge_index)


def structure_features(module: torch.nn.Module, inputs: ModelInputs,
                       parts: List[ReadoutPart]) -> Tuple[torch.Tensor, torch.Tensor]:
    """(f_i [n, d], atomic energies [n]) float64, without gradients."""
    run = feature_pass(module, inputs, parts, gradients=False)
    return run.features.to(torch.float64), run.atomic_energies.to(torch.float64)
