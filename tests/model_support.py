"""Small float64 models and structures shared by the physics tests."""

import numpy as np
import torch
from ase import Atoms
from ase.build import bulk

from mlip_gnn.data import SpeciesTable, collate, configuration_from_atoms, graph_from_configuration
from mlip_gnn.model import build_model

R_MAX = 4.0
SPECIES = [13, 29]  # Al, Cu


def model_kwargs(correlation=2, max_ell=2, hidden_ell=1, zbl=False, dtype="float64",
                 num_layers=2, shift=0.0, e0s=None, **architecture):
    """The builder's arguments of :func:`make_model` (without the seed)."""
    return dict(species=SPECIES, r_max=R_MAX, e0s=e0s or {13: -1.5, 29: -2.5},
                avg_num_neighbors=8.0, scale=0.1, shift=shift, num_layers=num_layers,
                num_channels=8, max_ell=max_ell, hidden_ell=hidden_ell,
                correlation=correlation, num_bessel=6, envelope_p=6, radial_mlp=[16],
                zbl=zbl, dtype=dtype, **architecture)


def make_model(seed=0, **options):
    """A small float64 model with random, non-trivial weights (options: :func:`model_kwargs`)."""
    model = build_model(**model_kwargs(**options), seed=seed)
    # random, non-trivial weights everywhere (some start at zero or one)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype))
    return model


def model_checkpoint(path, seed=0) -> str:
    """``make_model(seed=seed)`` saved as a training checkpoint at ``path``; its path."""
    from mlip_gnn.modelio import ModelSpec, save_checkpoint

    spec = ModelSpec.from_builder_kwargs(dict(model_kwargs(), seed=seed))
    save_checkpoint({"model_spec": spec.to_dict(),
                     "model": make_model(seed=seed).state_dict()}, path)
    return str(path)


def graph_of(atoms, r_max=R_MAX, dtype=torch.float64):
    conf = configuration_from_atoms(atoms)
    return graph_from_configuration(conf, r_max, SpeciesTable(SPECIES), dtype)


def evaluate(model, atoms, stress=True):
    out = model(graph_of(atoms), compute_forces=True, compute_stress=stress)
    return {k: v.detach().numpy() for k, v in out.items()}


def random_cluster(n=7, seed=0, box=6.0):
    rng = np.random.default_rng(seed)
    # rejection sampling keeps atoms at least 1.6 Å apart
    pos = []
    while len(pos) < n:
        p = rng.uniform(0, box, 3)
        if all(np.linalg.norm(p - q) > 1.6 for q in pos):
            pos.append(p)
    numbers = rng.choice(SPECIES, size=n)
    return Atoms(numbers=numbers, positions=np.array(pos), pbc=False)


def random_crystal(seed=0, repeat=(1, 1, 1)):
    rng = np.random.default_rng(seed)
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat(repeat)
    atoms.numbers[rng.random(len(atoms)) < 0.4] = 13
    cell = atoms.cell[:] @ (np.eye(3) + 0.05 * rng.standard_normal((3, 3)))
    atoms.set_cell(cell, scale_atoms=True)
    atoms.positions += 0.1 * rng.standard_normal(atoms.positions.shape)
    return atoms



__all__ = ["make_model", "model_kwargs", "model_checkpoint", "graph_of", "evaluate",
           "random_cluster", "random_crystal", "collate", "R_MAX", "SPECIES"]
