"""LLPR: Bayesian linear regression on a linear model, the features the energy is read
from, the force variance against finite differences, the fit, storage and errors."""

import numpy as np
import pytest
import torch
from model_support import SPECIES, make_model, random_crystal
from uncertainty_support import fitted

from mlip_gnn.calculators import MLIPCalculator
from mlip_gnn.data import configuration_from_atoms
from mlip_gnn.inference import CommitteeError, Predictor
from mlip_gnn.uncertainty import LLPR, EstimatorFitError, LLPRState
from mlip_gnn.uncertainty.llpr import calibrate_llpr, gaussian_nll, llpr_variance
from mlip_gnn.uncertainty.readout import feature_pass, readout_parts, readout_weights


@pytest.fixture(scope="module")
def model():
    return make_model()


@pytest.fixture(scope="module")
def fit(model):
    return fitted(model)


def test_llpr_is_bayesian_linear_regression():
    """y = Xw + ε, ε ~ N(0, s²), prior w ~ N(0, p² I). The posterior covariance of w,
    computed by Gaussian conditioning of the joint (w, y) (Kalman form, no (XᵀX + ς²I)⁻¹
    anywhere), gives x*ᵀ C x*: LLPR's α² x*ᵀ(XᵀX + ς²I)⁻¹x* with α² = s², ς² = s²/p²."""
    rng = np.random.default_rng(0)
    m, d, s2, p2 = 30, 5, 0.3 ** 2, 2.0 ** 2
    x = rng.normal(size=(m, d)) * np.array([1.0, 0.5, 2.0, 0.1, 1e-3])  # one weak direction
    prior = p2 * np.eye(d)
    gain = prior @ x.T @ np.linalg.inv(x @ prior @ x.T + s2 * np.eye(m))
    posterior = prior - gain @ x @ prior
    queries = rng.normal(size=(7, d))
    direct = np.einsum("qi,ij,qj->q", queries, posterior, queries)
    llpr = llpr_variance(torch.tensor(queries), torch.tensor(x.T @ x), s2 / p2, s2)
    np.testing.assert_allclose(llpr.numpy(), direct, rtol=1e-9)


def test_alpha2_minimises_the_nll():
    """calibrate_llpr's closed-form α² is the minimum of the validation NLL in α²."""
    from mlip_gnn.uncertainty.llpr import ValidationSample

    rng = np.random.default_rng(1)
    d = 4
    train = rng.normal(size=(20, d))
    covariance = torch.tensor(train.T @ train)
    samples = [ValidationSample(torch.tensor(rng.normal(size=d)), torch.zeros(1, d),
                                float(rng.normal(scale=0.2)), None, None) for _ in range(15)]
    best = calibrate_llpr(covariance, samples, regularisers=[0.5])
    unscaled = np.array([llpr_variance(s.features, covariance, 0.5, 1.0).item()
                         for s in samples])
    residual = np.array([s.energy_residual for s in samples])
    nll = gaussian_nll(residual, best["alpha2_energy"] * unscaled)
    assert nll == pytest.approx(best["nll_energy"], rel=1e-12)
    for factor in (0.9, 1.1):
        assert gaussian_nll(residual, factor * best["alpha2_energy"] * unscaled) > nll


def test_features_times_readout_weights_are_the_atomic_energies(model):
    conf = configuration_from_atoms(random_crystal(seed=5))
    predictor = Predictor(model)
    module = predictor.members[0].module
    run = feature_pass(module, predictor.model_inputs(conf), readout_parts(module))
    species = torch.tensor([SPECIES.index(z) for z in conf.atomic_numbers])
    energies = (run.features.detach() @ readout_weights(module) + model.shift[species]
                + model.e0[species])
    np.testing.assert_allclose(energies.numpy(), predictor.predict(conf).energies,
                               rtol=1e-12, atol=1e-12)


def test_covariance_is_the_per_atom_gauss_newton_matrix(model, fit):
    """Σ = Σ_A f(A) f(A)ᵀ / N_A², with f(A) rebuilt from the features the inference
    path records (node features' scalars of layer 0, last hidden layer, times scale)."""
    data, _, _ = fit
    from uncertainty_support import noisy_frames

    predictor = Predictor(model)
    expected = np.zeros_like(data.covariance.numpy())
    for conf in noisy_frames(model, 12)[:8]:
        recorded = predictor.predict(conf, features=True).members[0].features
        f = np.concatenate([recorded["node_features.0"][:, :8],  # 8x0e come first
                            recorded["readout_hidden.1"]], axis=1) * 0.1  # scale 0.1
        total = f.sum(0) / conf.num_atoms
        expected += np.outer(total, total)
    np.testing.assert_allclose(data.covariance.numpy(), expected, rtol=1e-10, atol=1e-14)


def test_energy_uncertainty_and_local_rigidity(model, fit):
    _, state, _ = fit
    conf = configuration_from_atoms(random_crystal(seed=40))
    pred = Predictor(model, estimator=LLPR(state)).predict(conf, features=True)
    recorded = pred.members[0].features
    f = 0.1 * np.concatenate([recorded["node_features.0"][:, :8],
                              recorded["readout_hidden.1"]], axis=1)  # [n, d]
    inverse = np.linalg.inv(state.covariance.numpy()
                            + state.regulariser * np.eye(f.shape[1]))
    total = f.sum(0)
    assert pred.uncertainty.energy == pytest.approx(
        np.sqrt(state.alpha2_energy * total @ inverse @ total), rel=1e-8)
    local = np.einsum("ni,ij,nj->n", f, inverse, f)
    np.testing.assert_allclose(pred.uncertainty.extra["energies_std"],
                               np.sqrt(state.alpha2_energy * local), rtol=1e-8)
    np.testing.assert_allclose(pred.uncertainty.ood, np.sqrt(local / state.ood_reference),
                               rtol=1e-8)


def test_force_uncertainty_against_finite_differences(model, fit):
    """σ²_ic = α_F² gᵀ(Σ + ς²I)⁻¹g with g = ∂f(A)/∂r_ic by central differences."""
    _, state, _ = fit
    atoms = random_crystal(seed=41)
    predictor = Predictor(model, estimator=LLPR(state, captured=1.0))
    module = predictor.members[0].module
    parts = readout_parts(module)
    sigma = predictor.predict(configuration_from_atoms(atoms)).uncertainty.forces  # [n]
    inverse = torch.linalg.inv(state.covariance + state.regulariser
                               * torch.eye(state.covariance.shape[0], dtype=torch.float64))

    def total(positions):
        moved = atoms.copy()
        moved.positions = positions
        inputs = predictor.model_inputs(configuration_from_atoms(moved))
        return feature_pass(module, inputs, parts, gradients=False).features.sum(0)

    h = 1e-5
    for atom in (0, 3):
        variance = 0.0
        for c in range(3):
            plus, minus = atoms.positions.copy(), atoms.positions.copy()
            plus[atom, c] += h
            minus[atom, c] -= h
            g = (total(plus) - total(minus)) / (2 * h)
            variance += state.alpha2_forces * float(g @ inverse @ g)
        assert sigma[atom] == pytest.approx(np.sqrt(variance), rel=1e-6)


def test_force_uncertainty_through_chunked_messages(model, fit, monkeypatch):
    """Large graphs compute messages in recomputed edge chunks; the repeated backward
    passes of the force uncertainty go through them and give the same σ."""
    import mlip_gnn.nn.blocks as blocks

    _, state, _ = fit
    conf = configuration_from_atoms(random_crystal(seed=44))
    predictor = Predictor(model, estimator=LLPR(state, captured=1.0))
    whole = predictor.predict(conf).uncertainty
    calls = []
    original = blocks.Interaction._chunked_messages

    def counted(self, *args):
        calls.append(1)
        return original(self, *args)

    monkeypatch.setattr(blocks, "EDGE_CHUNK", 20)
    monkeypatch.setattr(blocks.Interaction, "_chunked_messages", counted)
    assert len(predictor.model_inputs(conf)[2][0]) > 3 * 20  # several chunks
    chunked = predictor.predict(conf).uncertainty
    assert calls  # the chunked path ran
    np.testing.assert_allclose(chunked.forces, whole.forces, rtol=1e-9)
    assert chunked.energy == pytest.approx(whole.energy, rel=1e-9)


def test_ordered_force_directions_keep_the_validation_variance(model, fit):
    """The first rows of the ordered directions carry the requested share of the
    validation force variance; all rows are a rotation of (Σ + ς² I)^-1/2 (same σ)."""
    data, state, _ = fit
    d = state.covariance.shape[0]
    exact = state.rows_for(1.0)
    assert exact.shape == (d, d)
    torch.testing.assert_close(state.force_directions.T @ state.force_directions,
                               exact.T @ exact, rtol=1e-9, atol=1e-9)
    jacobian = torch.cat([s.force_jacobian for s in data.samples], 1)  # [d, 3m]
    full = ((exact @ jacobian) ** 2).sum()
    for share in (0.5, 0.9, 0.99):
        rows = state.rows_for(share)
        kept = float(((rows @ jacobian) ** 2).sum() / full)
        assert kept >= share - 1e-9
        assert float(((rows[:-1] @ jacobian) ** 2).sum() / full) < share  # the fewest
    conf = configuration_from_atoms(random_crystal(seed=43))
    sigma = {c: Predictor(model, estimator=LLPR(state, captured=c)).predict(conf)
             .uncertainty.forces for c in (0.9, 1.0)}
    assert np.all(sigma[0.9] <= sigma[1.0] * (1 + 1e-9))


def _run_dir_with_fit(model, state, path):
    from mlip_gnn.modelio import ModelSpec, save_checkpoint

    kwargs = dict(species=SPECIES, r_max=4.0, e0s={13: -1.5, 29: -2.5}, avg_num_neighbors=8.0,
                  scale=0.1, shift=0.0, num_layers=2, num_channels=8, max_ell=2, hidden_ell=1,
                  correlation=2, num_bessel=6, envelope_p=6, radial_mlp=[16], zbl=False,
                  dtype="float64", seed=0)
    path.mkdir()
    save_checkpoint({"model_spec": ModelSpec.from_builder_kwargs(kwargs).to_dict(),
                     "model": model.state_dict()}, path / "best.pt")
    if state is not None:
        state.save(path / "llpr.pt")
    return path


def test_fit_is_stored_and_found_beside_the_checkpoint(model, fit, tmp_path):
    _, state, _ = fit
    run_dir = _run_dir_with_fit(model, None, tmp_path / "run")
    with pytest.raises(EstimatorFitError, match=r"llpr.pt: no llpr fit found; make it with "
                       r"`mlip-gnn uncertainty fit"):
        MLIPCalculator(str(run_dir), estimator="llpr")
    state.save(run_dir / "llpr.pt")
    loaded = torch.load(run_dir / "llpr.pt", weights_only=True)
    assert loaded["covariance"].dtype == torch.float64
    atoms = random_crystal(seed=42)
    for source in (run_dir, run_dir / "best.pt"):
        atoms.calc = MLIPCalculator(str(source), estimator="llpr")
        atoms.get_forces()
        results = atoms.calc.results
        assert results["energy_std"] > 0 and results["forces_std"].shape == (len(atoms),)
        assert results["ood_score"].shape == (len(atoms),) and results["max_ood_score"] > 0
    direct = Predictor(model, estimator=LLPR(LLPRState.load(run_dir / "llpr.pt")))
    expected = direct.predict(configuration_from_atoms(atoms)).uncertainty
    np.testing.assert_allclose(atoms.calc.results["forces_std"], expected.forces, rtol=1e-10)


def test_other_weights_and_committees_are_refused(fit):
    _, state, _ = fit
    with pytest.raises(EstimatorFitError, match="fitted for other model weights"):
        Predictor(make_model(seed=7), estimator=LLPR(state))
    with pytest.raises(CommitteeError, match="LLPR works on one model; got 2"):
        Predictor([make_model(), make_model(seed=3)], estimator=LLPR(state))


def test_model_gives_its_last_layer_features_in_one_pass(model):
    """atomic_energies_and_features: the same energies as atomic_energies, and features
    that are the ones the recorded (hooked) inference path gives, eager and scripted."""
    from e3nn.util.jit import script

    conf = configuration_from_atoms(random_crystal(seed=6))
    predictor = Predictor(model)
    module = predictor.members[0].module
    inputs = predictor.model_inputs(conf)
    hooked = feature_pass(module, inputs, readout_parts(module), gradients=False)
    species = module.species(inputs[1])
    vectors = hooked.edge_vectors.detach()
    for potential in (model, script(model, in_place=False)):
        energies, features = potential.atomic_energies_and_features(
            vectors, species, inputs[2])
        torch.testing.assert_close(energies, potential.atomic_energies(
            vectors, species, inputs[2]), rtol=0, atol=0)
        torch.testing.assert_close(features, hooked.features, rtol=1e-12, atol=1e-14)


def test_export_carries_the_llpr_fit(model, fit, tmp_path, capsys):
    """`mlip-gnn export` of a run with an LLPR fit: the TorchScript file alone gives the
    eager LLPR uncertainty; without a fit, or with a fit for other weights, it says so."""
    from mlip_gnn.cli.main import main

    _, state, _ = fit
    run_dir = _run_dir_with_fit(model, state, tmp_path / "run")
    assert main(["export", str(run_dir), "-o", str(tmp_path / "m.pt")]) == 0
    assert "with its LLPR uncertainty fit" in capsys.readouterr().out
    conf = configuration_from_atoms(random_crystal(seed=45))
    eager = Predictor(model, estimator=LLPR(state)).predict(conf).uncertainty
    exported = Predictor(str(tmp_path / "m.pt"), estimator=LLPR()).predict(conf).uncertainty
    assert exported.energy == pytest.approx(eager.energy, rel=1e-10)
    for got, want in ((exported.forces, eager.forces), (exported.ood, eager.ood),
                      (exported.extra["energies_std"], eager.extra["energies_std"])):
        np.testing.assert_allclose(got, want, rtol=1e-10)
    rows = Predictor(model, estimator=LLPR(state)).estimator.force_rows
    assert torch.jit.load(str(tmp_path / "m.pt")).llpr_rows.shape[0] == rows

    bare = _run_dir_with_fit(model, None, tmp_path / "bare")
    assert main(["export", str(bare), "-o", str(tmp_path / "bare.pt")]) == 0
    with pytest.raises(EstimatorFitError, match="carries no LLPR fit"):
        Predictor(str(tmp_path / "bare.pt"), estimator=LLPR())
    other = _run_dir_with_fit(make_model(seed=7), state, tmp_path / "other")
    assert main(["export", str(other), "-o", str(tmp_path / "other.pt")]) == 0
    assert "LLPR fit not included" in capsys.readouterr().err
    assert not torch.jit.load(str(tmp_path / "other.pt")).has_llpr
