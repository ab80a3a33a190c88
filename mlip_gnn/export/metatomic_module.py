"""The module inside a metatomic export: metatomic systems and neighbour lists in, energy
out as a TensorMap.

Imports metatomic at the top (TorchScript needs its classes in the annotations), so only
:mod:`mlip_gnn.export.metatomic` imports this file, after it has checked that the optional
dependency is installed.

The engine (ASE, LAMMPS, i-PI, …) computes a full neighbour list with cutoff r_max and
registers its pair vectors as a function of ``system.positions`` and ``system.cell``
(``register_autograd_neighbors``); the energy returned here is built from those vectors,
so the engine's autograd gives forces -dE/dr and the stress from the strain derivative,
exactly as our own calculator does from the same per-atom energies.
"""

from typing import Dict, List, Optional

import torch
from metatensor.torch import Labels, TensorBlock, TensorMap
from metatomic.torch import ModelOutput, NeighborListOptions, System

__all__ = ["MetatomicPotential"]


class MetatomicPotential(torch.nn.Module):
    """metatomic's ``ModelInterface`` around a deployed potential.

    ``deployed``: a (scripted) :class:`~mlip_gnn.export.DeployedPotential`; its
    ``species`` maps atomic numbers to species indices (an unknown element is an error
    naming it) and its ``model.atomic_energies(edge_vectors, species, edge_index)`` gives
    the per-atom energies in eV, E0s included. ``r_max``: the cutoff in Å.

    The neighbour list is requested full (both i→j and j→i: the model sums messages over
    the pairs that end at an atom) and not strict: pairs at r_max or beyond, which an
    engine with a skin may hand over, are dropped here, so the edges are exactly those of
    our own neighbour list (|r_ij| < r_max).
    """

    def __init__(self, deployed: torch.nn.Module, r_max: float):
        super().__init__()
        self.deployed = deployed
        self.r_max = float(r_max)
        self.neighbors = NeighborListOptions(cutoff=self.r_max, full_list=True,
                                             strict=False)

    def requested_neighbor_lists(self) -> List[NeighborListOptions]:
        """One full, non-strict list with cutoff r_max (Å)."""
        return [self.neighbors]

    def _edges(self, system: System, offset: int):
        """The system's pairs closer than r_max: edge_index [2, e] (sender i, receiver
        j, shifted by ``offset``) and vectors [e, 3] Å (r_j - r_i + S·cell)."""
        block = self.neighbors_block(system)
        pairs = block.samples.values  # [e, 5]: i, j, cell shift a, b, c
        vectors = block.values.reshape(-1, 3)
        keep = torch.linalg.norm(vectors, dim=-1) < self.r_max
        edge_index = pairs[:, :2][keep].T.to(torch.long) + offset
        return edge_index, vectors[keep]

    def neighbors_block(self, system: System) -> TensorBlock:
        """The neighbour list the engine stored in ``system`` for this model."""
        return system.get_neighbor_list(self.neighbors)

    # metatomic checks this signature literally: typing.Optional, not ``Labels | None``
    def forward(self, systems: List[System], outputs: Dict[str, ModelOutput],
                selected_atoms: Optional[Labels]) -> Dict[str, TensorMap]:  # noqa: UP045
        """Energy of each system (sample ``system``), or of each atom with
        ``sample_kind == "atom"`` (samples ``system``, ``atom``), in eV; with
        ``selected_atoms`` only those atoms' energies count (the others are neighbours)."""
        if "energy" not in outputs or len(systems) == 0:
            return {}
        device = systems[0].positions.device
        species: List[torch.Tensor] = []
        edge_indices: List[torch.Tensor] = []
        vectors: List[torch.Tensor] = []
        system_of_atom: List[torch.Tensor] = []
        atom_in_system: List[torch.Tensor] = []
        offset = 0
        for s, system in enumerate(systems):
            n = len(system)
            species.append(self.deployed.species(system.types))
            edge_index, edge_vectors = self._edges(system, offset)
            edge_indices.append(edge_index)
            vectors.append(edge_vectors)
            system_of_atom.append(torch.full((n,), s, dtype=torch.int32, device=device))
            atom_in_system.append(torch.arange(n, dtype=torch.int32, device=device))
            offset += n
        # all systems as one disconnected graph
        atomic = self.deployed.model.atomic_energies(
            torch.cat(vectors), torch.cat(species), torch.cat(edge_indices, dim=1))  # [N] eV
        samples = torch.stack([torch.cat(system_of_atom), torch.cat(atom_in_system)], dim=1)
        if selected_atoms is not None:
            chosen = Labels(["system", "atom"], samples).select(selected_atoms)
            keep = torch.zeros(atomic.shape[0], dtype=torch.bool, device=device)
            keep[chosen] = True
            atomic = atomic[keep]
            samples = samples[keep]
        if outputs["energy"].sample_kind == "atom":
            values = atomic.reshape(-1, 1)
            labels = Labels(["system", "atom"], samples)
        else:
            totals = torch.zeros(len(systems), dtype=atomic.dtype, device=device)
            values = totals.index_add(0, samples[:, 0].to(torch.long), atomic).reshape(-1, 1)
            index = torch.arange(len(systems), dtype=torch.int32, device=device)
            labels = Labels(["system"], index.reshape(-1, 1))
        block = TensorBlock(
            values=values, samples=labels, components=torch.jit.annotate(List[Labels], []),
            properties=Labels(["energy"], torch.zeros((1, 1), dtype=torch.int32,
                                                     device=device)))
        keys = Labels(["_"], torch.zeros((1, 1), dtype=torch.int32, device=device))
        return {"energy": TensorMap(keys, [block])}
