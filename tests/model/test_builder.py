"""Builder, precision and TorchScript."""

import numpy as np
import pytest
import torch
from model_support import collate, graph_of, make_model, random_cluster, random_crystal
from e3nn.util.jit import script


@pytest.mark.parametrize("correlation,zbl", [(1, False), (3, True)])
def test_scripted_equals_eager(correlation, zbl):
    model = make_model(correlation=correlation, zbl=zbl)
    scripted = script(model, in_place=False)
    batch = collate([graph_of(random_cluster(seed=20)), graph_of(random_crystal(seed=21))])
    eager = model(batch, compute_forces=True, compute_stress=True)
    compiled = scripted(batch, True, True, False)
    for key in ("energy", "forces", "stress", "virial", "atomic_energies"):
        torch.testing.assert_close(compiled[key], eager[key], rtol=1e-12, atol=1e-12)


def test_float32_model_leaves_global_default_alone():
    before = torch.get_default_dtype()
    model = make_model(dtype="float32")
    assert torch.get_default_dtype() == before
    assert all(p.dtype == torch.float32 for p in model.parameters())
    out = model(graph_of(random_crystal(seed=22), dtype=torch.float32), compute_stress=True)
    assert out["energy"].dtype == torch.float32 and out["forces"].dtype == torch.float32
    ref = make_model(dtype="float64")(graph_of(random_crystal(seed=22)), compute_stress=True)
    np.testing.assert_allclose(out["forces"].detach().numpy(), ref["forces"].detach().numpy(),
                               rtol=1e-3, atol=1e-4)


def test_seed_makes_weights_reproducible_without_touching_global_rng():
    from mlip_gnn.model import build_model

    state = torch.random.get_rng_state()
    a = build_model(species=[29], seed=3, num_channels=4, radial_mlp=[8])
    b = build_model(species=[29], seed=3, num_channels=4, radial_mlp=[8])
    assert torch.equal(torch.random.get_rng_state(), state)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


def test_training_mode_keeps_graph_for_force_loss():
    model = make_model()
    out = model(graph_of(random_crystal(seed=23)), compute_forces=True, training=True)
    out["forces"].square().sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("kwargs,match", [
    (dict(hidden_ell=3, max_ell=2), "hidden_ell"),
    (dict(dtype="float16"), "dtype"),
    (dict(correlation=0), "correlation"),
])
def test_bad_arguments(kwargs, match):
    from mlip_gnn.model import build_model

    with pytest.raises(ValueError, match=match):
        build_model(species=[29], **kwargs)
