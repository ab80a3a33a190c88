"""Every architecture knob changes the model, and l ≥ 2 buys angular resolution."""

import numpy as np
import pytest
import torch
from ase import Atoms
from model_support import SPECIES, graph_of, random_cluster

from mlip_gnn.data import (SpeciesTable, collate, configuration_from_atoms,
                           graph_from_configuration)
from mlip_gnn.model import build_model

BASE = dict(species=SPECIES, r_max=4.0, avg_num_neighbors=6.0, num_layers=2,
            num_channels=4, max_ell=2, hidden_ell=1, correlation=2, num_bessel=6,
            radial_mlp=[8], dtype="float64", seed=0)


def _energy_and_forces(model, atoms):
    out = model(graph_of(atoms), compute_forces=True)
    return torch.cat([out["energy"], out["forces"].reshape(-1)]).detach()


@pytest.mark.parametrize("knob,value", [("max_ell", 3), ("max_ell", 1), ("hidden_ell", 2),
                                        ("hidden_ell", 0), ("correlation", 3),
                                        ("correlation", 1), ("num_layers", 3),
                                        ("num_bessel", 8), ("radial_mlp", [8, 8]),
                                        ("radial_mlp", [])])
def test_every_knob_changes_the_output(knob, value):
    atoms = random_cluster(n=6, seed=3, box=4.0)
    # weights away from their start: the orders ν ≥ 2 of the product start at zero
    base = _perturbed(build_model(**BASE))
    changed = _perturbed(build_model(**{**BASE, knob: value}))
    a, b = _energy_and_forces(base, atoms), _energy_and_forces(changed, atoms)
    assert not torch.allclose(a, b, rtol=1e-6, atol=1e-8)
    count = sum(p.numel() for p in changed.parameters())
    assert count != sum(p.numel() for p in base.parameters())


def _perturbed(model, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return model


def test_init_scheme_changes_the_function_not_only_the_start():
    """The radial constant is part of the function: the same weights give other numbers."""
    atoms = random_cluster(n=6, seed=3, box=4.0)
    stable = _perturbed(build_model(**BASE))
    legacy = build_model(**{**BASE, "init_scheme": "legacy"})
    legacy.load_state_dict(stable.state_dict())
    a, b = _energy_and_forces(stable, atoms), _energy_and_forces(legacy, atoms)
    assert not torch.allclose(a, b, rtol=1e-6, atol=1e-8)


def _p2_target(atoms):
    """Σ_i Σ_{j<k} g(r_ij) g(r_ik) P2(cos θ_jik): a three-body term of angular order 2."""
    pos = atoms.positions
    total = 0.0
    for i in range(len(atoms)):
        d = np.delete(pos, i, axis=0) - pos[i]
        r = np.linalg.norm(d, axis=1)
        g = np.exp(-((r / 2.0) ** 2))
        cos = (d @ d.T) / np.outer(r, r)
        p2 = 0.5 * (3.0 * cos**2 - 1.0)
        total += 0.5 * (np.outer(g, g) * p2).sum() - 0.5 * (g**2).sum()  # j ≠ k
    return total


def _held_out_error(max_ell, frames, targets, steps=1500):
    """Fit on half the frames; relative RMSE on the other half."""
    model = build_model(species=[14], r_max=5.0, avg_num_neighbors=4.0, num_layers=1,
                        num_channels=8, max_ell=max_ell, hidden_ell=0, correlation=2,
                        num_bessel=6, radial_mlp=[16], dtype="float64", seed=1)
    half = len(frames) // 2
    train = collate([graph_of_si(a) for a in frames[:half]])
    test = collate([graph_of_si(a) for a in frames[half:]])
    y = torch.tensor(targets)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        loss = (model(train, compute_forces=False)["energy"] - y[:half]).square().mean()
        loss.backward()
        opt.step()
    pred = model(test, compute_forces=False)["energy"].detach()
    return float((pred - y[half:]).square().mean().sqrt() / y[half:].std())


def graph_of_si(atoms):
    conf = configuration_from_atoms(atoms)
    return graph_from_configuration(conf, 5.0, SpeciesTable([14]), torch.float64)


def test_l2_fits_a_p2_three_body_term_that_l1_cannot():
    rng = np.random.default_rng(0)
    frames = []
    while len(frames) < 300:
        pos = rng.uniform(0.0, 3.0, (5, 3))
        dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1) + 10 * np.eye(5)
        if dist.min() > 1.0:
            frames.append(Atoms("Si5", positions=pos))
    targets = [_p2_target(a) for a in frames]
    err_l1 = _held_out_error(1, frames, targets)
    err_l2 = _held_out_error(2, frames, targets)
    # measured (1500 Adam steps): 0.37 (l ≤ 1) against 0.14 (l ≤ 2), relative held-out RMSE.
    # The optimiser's path depends on the CPU's rounding (800 steps gave 0.11 on one machine
    # and 0.18 on another), so the run is long enough to settle and the bounds leave room.
    assert err_l2 < 0.2, err_l2
    assert err_l1 > 2.0 * err_l2, (err_l1, err_l2)
