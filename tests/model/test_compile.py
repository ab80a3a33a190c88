"""torch.compile'd energies: the same function as the eager model, and a clear fallback."""

import logging

import numpy as np
import pytest
import torch
from model_support import graph_of, make_model, random_crystal

from mlip_gnn.calculators import MLIPCalculator
from mlip_gnn.model import compile_energy


@pytest.mark.slow
# dynamo reads .grad of non-leaf tensors while it traces e3nn's modules
@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")
def test_compiled_equals_eager_float64():
    """Compiling takes about a minute on two CPU cores, hence slow."""
    eager = make_model(correlation=3, max_ell=3)
    compiled = compile_energy(make_model(correlation=3, max_ell=3))
    for seed in (30, 31):  # two sizes: the second call must not need the same shapes
        graph = graph_of(random_crystal(seed=seed, repeat=(1, 1, 1 + seed % 2)))
        ref = eager(graph, compute_forces=True, compute_stress=True)
        out = compiled(graph, compute_forces=True, compute_stress=True)
        assert compiled.atomic_energies.failure is None
        for key in ("energy", "forces", "stress"):
            torch.testing.assert_close(out[key], ref[key], rtol=1e-10, atol=1e-10)


def test_failed_compilation_falls_back_to_eager_with_a_warning(monkeypatch, caplog):
    def broken(fn, **kwargs):
        def call(*args):
            raise RuntimeError("no C++ compiler found")
        return call

    monkeypatch.setattr(torch, "compile", broken)
    model = make_model()
    atoms = random_crystal(seed=32)
    ref = model(graph_of(atoms), compute_forces=True)["forces"].detach().numpy()
    atoms.calc = MLIPCalculator(model, compile=True)
    assert "atomic_energies" not in vars(model)  # the caller's model is not changed
    with caplog.at_level(logging.WARNING):
        forces = atoms.get_forces()
    np.testing.assert_allclose(forces, ref, rtol=1e-12, atol=1e-12)
    assert "torch.compile failed (RuntimeError: no C++ compiler found)" in caplog.text


def test_an_export_is_not_compiled_and_says_so(tmp_path, caplog):
    from mlip_gnn.export import export_potential

    path = export_potential(make_model(), tmp_path / "m.pt")
    with caplog.at_level(logging.WARNING):
        calc = MLIPCalculator(str(path), compile=True)
    assert "is an exported file and is not compiled again" in caplog.text
    assert isinstance(calc.committee.models[0], torch.jit.ScriptModule)
