"""The interaction's chunked messages (inference memory) against the plain ones."""

import numpy as np
import pytest
import torch

import mlip_gnn.nn.blocks as blocks
from model_support import graph_of, make_model, random_crystal


def _outputs(model, graph, training=False):
    model.zero_grad(set_to_none=True)
    out = model(graph, compute_forces=True, compute_stress=True, training=training)
    return out


@pytest.mark.parametrize("correlation,max_ell", [(1, 1), (3, 3)])
def test_chunked_messages_give_the_same_energy_forces_and_stress(monkeypatch, correlation,
                                                                 max_ell):
    model = make_model(correlation=correlation, max_ell=max_ell).eval()
    graph = graph_of(random_crystal(seed=3, repeat=(2, 1, 1)))
    plain = _outputs(model, graph)
    calls = []
    original = blocks.Interaction._chunked_messages

    def counting(self, *args):
        calls.append(1)
        return original(self, *args)

    monkeypatch.setattr(blocks.Interaction, "_chunked_messages", counting)
    monkeypatch.setattr(blocks, "EDGE_CHUNK", 37)  # several chunks and a ragged last one
    chunked = _outputs(model, graph)
    assert len(calls) == 2  # both layers took the chunked path
    scale = float(plain["atomic_energies"].detach().abs().sum())
    np.testing.assert_allclose(chunked["energy"].detach(), plain["energy"].detach(),
                               rtol=0, atol=1e-13 * scale)
    for key in ("forces", "stress"):
        ref = plain[key].detach()
        np.testing.assert_allclose(chunked[key].detach(), ref, rtol=0,
                                   atol=1e-12 * float(ref.abs().max()))


def test_a_force_loss_differentiates_through_the_chunks(monkeypatch):
    """Eval mode with a graph of the derivatives (e.g. a force loss on a validation
    model): recomputed chunks give the parameters the same gradients."""
    model = make_model(correlation=2, max_ell=2).eval()
    graph = graph_of(random_crystal(seed=4))

    def gradients():
        out = _outputs(model, graph, training=True)
        ((out["forces"] ** 2).sum() + out["energy"].sum()).backward()
        return [p.grad.clone() for p in model.parameters()]

    plain = gradients()
    monkeypatch.setattr(blocks, "EDGE_CHUNK", 23)
    for a, b in zip(plain, gradients()):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12 * float(a.abs().max()))


def test_training_mode_and_small_graphs_do_not_chunk(monkeypatch):
    model = make_model()
    graph = graph_of(random_crystal(seed=5))
    monkeypatch.setattr(blocks.Interaction, "_chunked_messages",
                        lambda *a: pytest.fail("chunked in training mode"))
    monkeypatch.setattr(blocks, "EDGE_CHUNK", 10)
    _outputs(model.train(), graph)
    monkeypatch.setattr(blocks, "EDGE_CHUNK", 10**9)
    _outputs(model.eval(), graph)
