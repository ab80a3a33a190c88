"""Training loss: a weighted sum of one term per labelled quantity
(:data:`mlip_gnn.quantities.QUANTITIES`: energy per atom, forces, stress; for spin
models -∂E/∂m; for long-range models the per-atom charges).

Each term is a small function ``(pred, ref, elementwise) -> scalar`` that honours the
per-frame label masks (``keys.ENERGY_WEIGHT`` ...) and per-config weights
(``keys.WEIGHT``); :class:`WeightedLoss` combines terms with weights that training stages
may change. A term is the weighted mean over the *labelled* entries of the batch:

    L_E = Σ_g w_g m_g ℓ((E_g - Ê_g) / N_g) / Σ_g m_g                       (eV/atom)²
    L_F = Σ_i Σ_c w_g(i) m_g(i) ℓ(F_ic - F̂_ic) / (3 Σ_i m_g(i))            (eV/Å)²
    L_S = Σ_g Σ_ab w_g m_g ℓ(σ_gab - σ̂_gab) / (9 Σ_g m_g)                   (eV/Å³)²
    L_M = Σ_i w_g(i) m_g(i) ℓ(H_i - Ĥ_i) / Σ_i m_g(i),  H = -∂E/∂m         (eV/μB)²
    L_Q = Σ_i w_g(i) m_g(i) ℓ(q_i - q̂_i) / Σ_i m_g(i)                       e²

with ℓ the squared error or the Huber function. A batch with no labelled entry for a term
contributes zero for it.
"""

from __future__ import annotations

import functools
from typing import Callable, Dict, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from mlip_gnn.data import keys
from mlip_gnn.quantities import (CHARGES, ENERGY, FORCES, MAGNETIC_FORCES, QUANTITIES, STRESS,
                                 Quantity)

__all__ = ["Elementwise", "ELEMENTWISE", "elementwise_loss", "energy_per_atom_term",
           "forces_term", "stress_term", "quantity_term", "label_count", "TERMS",
           "LABEL_COUNTS", "WeightedLoss", "TERM_NAMES", "LOSS_QUANTITIES"]

Graph = Mapping[str, Tensor]
#: ``(pred, ref) -> per-element loss`` with the shape of its inputs
Elementwise = Callable[[Tensor, Tensor], Tensor]


def _squared(pred: Tensor, ref: Tensor) -> Tensor:
    return torch.square(pred - ref)


def _huber(pred: Tensor, ref: Tensor, delta: float) -> Tensor:
    return F.huber_loss(pred, ref, reduction="none", delta=delta)


#: loss kind → factory taking the Huber ``delta`` (ignored by ``mse``)
ELEMENTWISE: Dict[str, Callable[[float], Elementwise]] = {
    "mse": lambda delta: _squared,
    "huber": lambda delta: functools.partial(_huber, delta=delta),
}


def elementwise_loss(kind: str, huber_delta: float = 0.01) -> Elementwise:
    """The per-element loss named ``kind`` (one of :data:`ELEMENTWISE`)."""
    try:
        return ELEMENTWISE[kind](huber_delta)
    except KeyError:
        raise ValueError(f"unknown loss kind {kind!r}; valid: {sorted(ELEMENTWISE)}") from None


def _masked_mean(values: Tensor, weight: Tensor, mask: Tensor, per_item: int) -> Tensor:
    """Σ weight·mask·values / (per_item · Σ mask); 0 when nothing is labelled."""
    denom = mask.sum() * per_item
    total = (values * (weight * mask).reshape(-1, *([1] * (values.dim() - 1)))).sum()
    return total / denom.clamp(min=1.0)


def quantity_term(q: Quantity, pred: Graph, ref: Graph, elementwise: Elementwise) -> Tensor:
    """The loss term of quantity ``q``: weighted mean of ``elementwise`` over the labelled
    entries (energy per atom; per-atom quantities take their frame's weight and mask); 0
    when no frame of the batch carries an optional label (per-atom charges)."""
    if q.mask_key not in ref:
        return ref[keys.WEIGHT].new_zeros(())
    predicted, reference = pred[q.key], ref[q.key]
    if q.per_atom_energy:
        num_atoms = ref[keys.NUM_ATOMS].to(predicted.dtype)  # [g]
        predicted, reference = predicted / num_atoms, reference / num_atoms
    weight, mask = ref[keys.WEIGHT], ref[q.mask_key]  # [g]
    if q.per_atom:
        batch = ref[keys.BATCH]  # [n]
        weight, mask = weight[batch], mask[batch]
    return _masked_mean(elementwise(predicted, reference), weight, mask, q.components)


def label_count(q: Quantity, ref: Graph) -> Tensor:
    """Labelled entries of ``q`` in ``ref``: the denominator of its loss term."""
    if q.mask_key not in ref:
        return ref[keys.WEIGHT].new_zeros(())
    mask = ref[q.mask_key]
    if q.per_atom:
        mask = mask[ref[keys.BATCH]]
    return q.components * mask.sum()


energy_per_atom_term = functools.partial(quantity_term, ENERGY)
forces_term = functools.partial(quantity_term, FORCES)
stress_term = functools.partial(quantity_term, STRESS)

#: the quantities with a loss term: the reported ones, -∂E/∂m of spin models and the
#: charges of long-range models
LOSS_QUANTITIES = (*QUANTITIES, MAGNETIC_FORCES, CHARGES)
#: term names, as in the config's ``<name>_weight``
TERM_NAMES = tuple(q.name for q in LOSS_QUANTITIES)

#: term name (as in the config's ``<name>_weight``) → term function
TERMS: Dict[str, Callable[[Graph, Graph, Elementwise], Tensor]] = {
    q.name: functools.partial(quantity_term, q) for q in LOSS_QUANTITIES}

#: term name → number of labelled entries of ``ref`` (the denominator of the term); data
#: parallel training rescales each term by its share of the global count
LABEL_COUNTS: Dict[str, Callable[[Graph], Tensor]] = {
    q.name: functools.partial(label_count, q) for q in LOSS_QUANTITIES}


class WeightedLoss:
    """Σ_t weight_t · term_t. Terms with weight 0 are not evaluated, so a model need not
    predict stress when ``stress`` has weight 0."""

    def __init__(self, weights: Mapping[str, float], elementwise: Elementwise):
        self.elementwise = elementwise
        self.weights: Dict[str, float] = {}
        self.set_weights(weights)

    def set_weights(self, weights: Mapping[str, float]) -> None:
        """Set the weights of the named terms (a stage's change); unknown names are a
        ValueError."""
        unknown = sorted(set(weights) - set(TERMS))
        if unknown:
            raise ValueError(f"unknown loss terms {unknown}; valid: {sorted(TERMS)}")
        self.weights.update({name: float(w) for name, w in weights.items()})

    @property
    def needs_stress(self) -> bool:
        """True when the stress term has a positive weight."""
        return self.weights.get("stress", 0.0) > 0.0

    @property
    def needs_derivative_graph(self) -> bool:
        """Whether a term differentiates forces or stress (second-order autograd)."""
        return self.needs_stress or any(self.weights.get(name, 0.0) > 0.0
                                        for name in ("forces", MAGNETIC_FORCES.name))

    def terms(self, pred: Graph, ref: Graph) -> Dict[str, Tensor]:
        """Unweighted value of every active term."""
        return {name: TERMS[name](pred, ref, self.elementwise)
                for name, w in self.weights.items() if w > 0.0}

    def label_counts(self, ref: Graph) -> Dict[str, Tensor]:
        """Labelled entries of every active term (the denominators of :meth:`terms`)."""
        return {name: LABEL_COUNTS[name](ref) for name, w in self.weights.items() if w > 0.0}

    def __call__(self, pred: Graph, ref: Graph) -> Tensor:
        terms = self.terms(pred, ref)
        total = sum(self.weights[name] * value for name, value in terms.items())
        if not terms:  # every weight is zero: a differentiable zero keeps the loop simple
            total = pred[keys.TOTAL_ENERGY].sum() * 0.0
        return total
