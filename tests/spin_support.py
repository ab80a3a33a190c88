"""Small float64 spin models and magnetic structures shared by the spin tests."""

import numpy as np
import torch
from ase.build import bulk

from mlip_gnn.data import SpeciesTable, configuration_from_atoms, graph_from_configuration
from mlip_gnn.model import build_model

R_MAX = 4.0
SPECIES = [26, 28]  # Fe, Ni


def spin_model(spin="collinear", seed=0, perturb=True, **kwargs):
    model = build_model(species=SPECIES, r_max=R_MAX, avg_num_neighbors=10.0, scale=0.1,
                        num_layers=2, num_channels=8, max_ell=2, hidden_ell=1,
                        correlation=2, num_bessel=6, radial_mlp=[16], dtype="float64",
                        seed=seed, spin=spin, **kwargs)
    if perturb:  # non-trivial weights everywhere (the spin node map starts random anyway)
        gen = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
    return model


def magnetic_crystal(seed=0):
    rng = np.random.default_rng(seed)
    atoms = bulk("Fe", "bcc", a=2.87, cubic=True).repeat((2, 2, 1))
    atoms.numbers[rng.random(len(atoms)) < 0.3] = 28
    atoms.set_cell(atoms.cell[:] @ (np.eye(3) + 0.03 * rng.standard_normal((3, 3))),
                   scale_atoms=True)
    atoms.positions += 0.08 * rng.standard_normal(atoms.positions.shape)
    moments = rng.uniform(0.5, 2.5, len(atoms)) * rng.choice([-1.0, 1.0], len(atoms))
    return atoms, moments


def graph(atoms, moments):
    conf = configuration_from_atoms(atoms)
    conf.magmoms = None if moments is None else np.asarray(moments, dtype=np.float64)
    return graph_from_configuration(conf, R_MAX, SpeciesTable(SPECIES))
