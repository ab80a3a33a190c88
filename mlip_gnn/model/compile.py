"""A compiled energy for inference in Python (ASE, ``mlip-gnn md``): ``torch.compile``.

Only the per-atom energy is compiled; forces and stress still come from autograd of it, so
the compiled model is the same function as the eager one (tested to round-off in
float64). Training keeps the eager model: a force loss needs the double backward, which
compiled graphs do not support.
"""

import logging
from typing import Callable

import torch

__all__ = ["compile_energy"]

_log = logging.getLogger(__name__)


class _CompiledEnergy:
    """``atomic_energies`` through ``torch.compile``, falling back to the eager function
    (with one warning that says why) when compilation fails, e.g. without a C++ compiler."""

    def __init__(self, eager: Callable[..., torch.Tensor]):
        self.eager = eager
        self.compiled = torch.compile(eager, dynamic=True)
        self.failure: str | None = None

    def __call__(self, edge_vectors: torch.Tensor, species: torch.Tensor,
                 edge_index: torch.Tensor, magmoms: torch.Tensor | None = None
                 ) -> torch.Tensor:
        if self.failure is None:
            try:
                # constants stored as python floats (cutoff, envelope power, ...) stay
                # constants: as symbolic floats they reach a lowering inductor lacks
                with torch._dynamo.config.patch(specialize_float=True):
                    return self.compiled(edge_vectors, species, edge_index, magmoms)
            except Exception as exc:  # any failure to compile: the eager path is exact
                self.failure = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                _log.warning("torch.compile failed (%s); using the eager model",
                             self.failure)
        return self.eager(edge_vectors, species, edge_index, magmoms)


def compile_energy(potential: torch.nn.Module) -> torch.nn.Module:
    """Make ``potential`` (a :class:`~mlip_gnn.model.Potential`) compute its per-atom
    energies through ``torch.compile``, in place; returns it. The first call of each new
    input shape compiles (seconds to minutes on a CPU); later calls reuse the code. The
    compiled model keeps every edge-sized tensor of a call (no edge chunks): its memory is
    that of the plain eager forward."""
    if not isinstance(getattr(potential, "atomic_energies", None), _CompiledEnergy):
        for module in potential.modules():  # one graph per size: no recomputed edge chunks
            if hasattr(module, "chunked"):
                module.chunked = False
        potential.atomic_energies = _CompiledEnergy(potential.atomic_energies)
    return potential
