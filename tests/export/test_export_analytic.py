"""An analytic pair potential exported and run through the file and the calculator,
against its closed form evaluated with ASE's own neighbour list: a reference that owes
nothing to the code under test."""

from typing import Dict, List

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.neighborlist import neighbor_list

from mlip_gnn.calculators import MLIPCalculator
from mlip_gnn.data import keys
from mlip_gnn.export import export_potential
from mlip_gnn.model.derivatives import (forces_from_edge_gradients, stress_from_virial,
                                        virial_from_edge_gradients)

R_MAX, DEPTH, WIDTH, R0 = 4.5, 0.3, 1.4, 2.6  # Å, eV, 1/Å, Å
E0 = {13: -1.25, 29: -2.0}


class MorsePair(torch.nn.Module):
    """E_i = E0[z_i] + ½ Σ_j φ(r_ij), φ(r) = D (e^{-2a(r-r0)} - 2 e^{-a(r-r0)}) (1 - r/rc)²,
    with the model call contract of :class:`~mlip_gnn.model.Potential`."""

    def __init__(self):
        super().__init__()
        self.atomic_numbers: List[int] = sorted(E0)
        self.r_max = R_MAX
        self.num_layers = 1  # a pair potential: energies depend on atoms within r_max
        self.depth, self.width, self.r0 = DEPTH, WIDTH, R0
        self.register_buffer("e0", torch.tensor([E0[z] for z in sorted(E0)],
                                                dtype=torch.float64))

    def atomic_energies(self, edge_vectors: torch.Tensor, species: torch.Tensor,
                        edge_index: torch.Tensor) -> torch.Tensor:
        r = torch.linalg.norm(edge_vectors, dim=-1)
        x = torch.exp(-self.width * (r - self.r0))
        pair = self.depth * (x * x - 2.0 * x) * (1.0 - r / self.r_max) ** 2
        return self.e0[species].index_add(0, edge_index[1], 0.5 * pair)

    def forward(self, data: Dict[str, torch.Tensor], compute_forces: bool = True,
                compute_stress: bool = False, training: bool = False
                ) -> Dict[str, torch.Tensor]:
        pos, cell, batch = data[keys.POSITIONS], data[keys.CELL], data[keys.BATCH]
        edge_index = data[keys.EDGE_INDEX]
        edge_graph = batch[edge_index[0]]
        vectors = (pos[edge_index[1]] - pos[edge_index[0]]
                   + torch.einsum("ei,eij->ej", data[keys.EDGE_CELL_SHIFT], cell[edge_graph]))
        vectors = vectors.detach().requires_grad_(True)
        atomic = self.atomic_energies(vectors, data[keys.SPECIES], edge_index)
        energy = torch.zeros(cell.shape[0], dtype=atomic.dtype).index_add(0, batch, atomic)
        grads: List[torch.Tensor | None] = torch.autograd.grad([energy.sum()], [vectors])
        grad = grads[0]
        assert grad is not None
        out = {keys.TOTAL_ENERGY: energy, keys.ATOMIC_ENERGIES: atomic,
               keys.EDGE_FORCES: grad,
               keys.FORCES: forces_from_edge_gradients(grad, edge_index, pos.shape[0])}
        if compute_stress:
            virial = virial_from_edge_gradients(grad, vectors, edge_graph, cell.shape[0])
            out[keys.VIRIAL] = virial
            out[keys.STRESS] = stress_from_virial(virial, cell)[0]
        return out


def closed_form(atoms):
    """Energy, atomic energies, forces and stress (ASE sign) by hand, numpy and ASE only."""
    i, j, d, vec = neighbor_list("ijdD", atoms, R_MAX)
    x = np.exp(-WIDTH * (d - R0))
    cut = 1.0 - d / R_MAX
    phi = DEPTH * (x * x - 2.0 * x) * cut ** 2
    dphi = DEPTH * ((-2.0 * WIDTH * x * x + 2.0 * WIDTH * x) * cut ** 2
                    - (x * x - 2.0 * x) * 2.0 * cut / R_MAX)
    energies = np.array([E0[z] for z in atoms.numbers])
    np.add.at(energies, j, 0.5 * phi)
    # E = ½ Σ_ij φ(r_ij): dE/dr_i = Σ_j φ'(r_ij) (r_i - r_j) / r_ij
    forces = np.zeros((len(atoms), 3))
    np.add.at(forces, i, (dphi / d)[:, None] * vec)
    stress = 0.5 * np.einsum("e,ea,eb->ab", dphi / d, vec, vec) / atoms.get_volume()
    return energies.sum(), energies, forces, stress


def structure(seed=0):
    rng = np.random.default_rng(seed)
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 1, 1))
    atoms.numbers[rng.random(len(atoms)) < 0.4] = 13
    atoms.set_cell(atoms.cell[:] @ (np.eye(3) + 0.03 * rng.standard_normal((3, 3))),
                   scale_atoms=True)
    atoms.positions += 0.1 * rng.standard_normal(atoms.positions.shape)
    return atoms


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export_potential(MorsePair(), tmp_path_factory.mktemp("analytic") / "morse.pt")


def test_exported_file_equals_the_closed_form(exported):
    atoms = structure(seed=1)
    energy, energies, forces, stress = closed_form(atoms)
    i, j, shifts = neighbor_list("ijS", atoms, R_MAX)
    module = torch.jit.load(str(exported))
    out = module(torch.tensor(atoms.positions), torch.tensor(atoms.numbers),
                 torch.tensor(np.stack([i, j])), torch.tensor(shifts, dtype=torch.float64),
                 torch.tensor(atoms.cell[:]), True)
    np.testing.assert_allclose(out["energy"].item(), energy, rtol=1e-12)
    np.testing.assert_allclose(out["atomic_energies"].numpy(), energies, atol=1e-12)
    np.testing.assert_allclose(out["forces"].detach().numpy(), forces, atol=1e-12)
    np.testing.assert_allclose(out["stress"].detach().numpy(), stress, atol=1e-12)
    assert np.abs(forces).max() > 1e-2 and np.abs(stress).max() > 1e-3


def test_calculator_on_the_export_equals_the_closed_form(exported):
    from ase.stress import full_3x3_to_voigt_6_stress

    atoms = structure(seed=2)
    energy, energies, forces, stress = closed_form(atoms)
    atoms.calc = MLIPCalculator(str(exported))
    np.testing.assert_allclose(atoms.get_potential_energy(), energy, rtol=1e-12)
    np.testing.assert_allclose(atoms.get_potential_energies(), energies, atol=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), forces, atol=1e-12)
    np.testing.assert_allclose(atoms.get_stress(), full_3x3_to_voigt_6_stress(stress),
                               atol=1e-12)
