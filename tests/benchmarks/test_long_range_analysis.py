"""The long-range benchmark's scores and the data script's splitting and placement, on
small hand-made inputs (no training, no tblite)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[2]


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


analysis = _load(ROOT / "benchmarks/long_range_analysis.py")
data_script = _load(ROOT / "scripts/make_long_range_data.py")
bench = _load(ROOT / "benchmarks/bench_long_range.py")


def _record(frame_id, role, e_ref, e_pred, pair="P", natoms=1, **info):
    forces = np.zeros((natoms, 3))
    return dict(frame_id=frame_id, role=role, pair=pair, num_atoms=natoms, e_ref=e_ref,
                e_pred=e_pred, f_ref=forces, f_pred=forces.copy(), **info)


def _dimer_set(pair, distances, e_int_ref, e_int_pred, e_a=-10.0, e_b=-20.0, shift=0.3):
    """Dimer + monomer records whose interaction energies are the given ones; the
    predictions carry a constant per-monomer offset that must cancel in E_int."""
    recs = []
    for i, (d, ref, pred) in enumerate(zip(distances, e_int_ref, e_int_pred)):
        fid = f"{pair}:c00:d{i:02d}"
        recs += [_record(f"{fid}:A", "A", e_a, e_a + shift, pair),
                 _record(f"{fid}:B", "B", e_b, e_b - 2 * shift, pair),
                 _record(fid, "dimer", e_a + e_b + ref, e_a + e_b - shift + pred, pair,
                         curve=f"{pair}:c00", distance=d, frame_a=f"{fid}:A",
                         frame_b=f"{fid}:B")]
    return recs


def test_interaction_rows_subtract_the_linked_monomers():
    recs = _dimer_set("P", [3.0, 12.0], [-0.5, -0.1], [-0.4, 0.0])
    rows = analysis.interaction_rows(recs)
    assert [r["distance"] for r in rows] == [3.0, 12.0]
    assert np.allclose([r["e_int_ref"] for r in rows], [-0.5, -0.1], atol=1e-12)
    assert np.allclose([r["e_int_pred"] for r in rows], [-0.4, 0.0], atol=1e-12)


def test_shared_single_atom_monomer_frame_is_found():
    recs = [_record("P:A", "A", 3.3, 3.0),
            _record("P:c00:d00:B", "B", -5.0, -5.5),
            _record("P:c00:d00", "dimer", -2.0, -2.4, curve="P:c00", distance=11.0,
                    frame_a="P:A", frame_b="P:c00:d00:B")]
    (row,) = analysis.interaction_rows(recs)
    assert row["e_int_ref"] == pytest.approx(-2.0 - 3.3 + 5.0)
    assert row["e_int_pred"] == pytest.approx(-2.4 - 3.0 + 5.5)


def test_missing_monomer_is_named():
    recs = _dimer_set("P", [3.0], [-0.5], [-0.4])
    with pytest.raises(ValueError, match="P:c00:d00:B"):
        analysis.interaction_rows([r for r in recs if r["role"] != "B"])


def test_far_field_error_by_hand():
    rows = analysis.interaction_rows(
        _dimer_set("P1", [4.0, 10.0, 11.0, 15.0], [-2.0, -1.5, -1.0, -0.5],
                   [0.0, 0.0, -0.9, -0.5])
        + _dimer_set("P2", [3.0, 12.0], [0.1, 0.002], [0.1, 0.0]))
    far = analysis.far_field_error(rows, threshold=10.0)  # 10.0 itself is not beyond
    p1, p2 = far["per_pair"]["P1"], far["per_pair"]["P2"]
    assert (p1["frames"], p2["frames"], far["frames"]) == (2, 1, 3)
    assert p1["mae_meV"] == pytest.approx(50.0)
    assert p1["mean_abs_ref_meV"] == pytest.approx(750.0)
    assert p1["relative"] == pytest.approx(0.05 / 0.75)
    assert p2["relative"] == pytest.approx(1.0)
    assert far["relative_mean"] == pytest.approx((0.05 / 0.75 + 1.0) / 2)
    assert far["mae_meV"] == pytest.approx((100.0 + 0.0 + 2.0) / 3)


def test_a_model_blind_beyond_its_cutoff_scores_exactly_one():
    ref = [-1.0, -0.3, 0.02, -0.004]
    rows = analysis.interaction_rows(_dimer_set("P", [10.5, 12, 14, 18], ref, [0.0] * 4))
    assert analysis.far_field_error(rows, 10.0)["relative_mean"] == pytest.approx(1.0)


def test_far_field_errors_need_far_frames_and_a_nonzero_reference():
    rows = analysis.interaction_rows(_dimer_set("P", [3.0, 12.0], [-1.0, 0.0], [0, 0]))
    with pytest.raises(ValueError, match="no dimer beyond 20"):
        analysis.far_field_error(rows, 20.0)
    with pytest.raises(ValueError, match="pair P"):
        analysis.far_field_error(rows, 10.0)


def test_energy_force_errors_by_hand():
    a = _record("a", "dimer", -1.0, -0.99, natoms=2)
    b = _record("b", "dimer", -3.0, -3.03, natoms=3)
    a["f_pred"] = a["f_pred"] + np.array([[0.01, 0, 0], [0, 0, 0]])
    out = analysis.energy_force_errors([a, b])
    assert out["frames"] == 2
    assert out["energy_mae"] == pytest.approx(1e3 * (0.01 / 2 + 0.03 / 3) / 2)
    assert out["energy_total_rmse"] == pytest.approx(1e3 * np.sqrt((0.01**2 + 0.03**2) / 2))
    assert out["forces_mae"] == pytest.approx(10.0 / 15)
    assert set(analysis.errors_by([a, b], "frame_id")) == {"a", "b"}


def test_score_and_table_of_the_benchmark():
    recs = _dimer_set("P", [3.0, 12.0], [-0.5, -0.1], [-0.5, 0.0])
    scores = bench.score(recs, threshold=10.0)
    assert scores["far_field"]["relative_mean"] == pytest.approx(1.0)
    assert scores["all"]["frames"] == 6 and scores["dimers"]["frames"] == 2
    text = bench.table({"models": {"local": {**scores, "epochs": 3}}})
    assert "| local | 3 |" in text and "100.0 %" in text


def test_split_curves_holds_out_whole_curves():
    splits = data_script.split_curves(16, 3, 3, np.random.default_rng(0))
    assert len(splits) == 16
    assert (splits.count("train"), splits.count("valid"), splits.count("test")) == (10, 3, 3)
    assert splits == data_script.split_curves(16, 3, 3, np.random.default_rng(0))
    assert splits != data_script.split_curves(16, 3, 3, np.random.default_rng(1))
    with pytest.raises(ValueError, match="no training curve"):
        data_script.split_curves(4, 2, 2, np.random.default_rng(0))


@pytest.mark.parametrize("target", [2.2, 5.0, 18.5])
def test_placement_puts_the_nearest_atoms_at_the_target(target):
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(5, 3)), rng.normal(size=(3, 3))
    direction = np.array([1.0, 2.0, -0.5]) / np.linalg.norm([1.0, 2.0, -0.5])
    s = data_script.separation_for(a, b, direction, target)
    assert data_script.nearest_distance(a, b + s * direction) == pytest.approx(target, abs=1e-6)
    # the crossing approached from far: every larger shift is farther
    for ds in (0.01, 0.5, 3.0):
        assert data_script.nearest_distance(a, b + (s + ds) * direction) > target


def test_random_rotations_are_proper():
    rot = data_script.random_rotation(np.random.default_rng(0))
    assert np.allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rot) == pytest.approx(1.0)


def test_train_commands_differ_only_by_the_long_range_overrides(tmp_path):
    args = bench.argparse.Namespace(
        data=tmp_path, system="dimers", minutes=3.0, work=tmp_path / "work",
        config=ROOT / "configs/long_range.yaml", set=["seed=1"])
    local = bench.train_command(args, "local", bench.LOCAL_SET)
    long_range = bench.train_command(args, "long_range", bench.LONG_RANGE_SET)
    assert local[-2:] == ["--set", "model.long_range.electrostatics=none"]
    sets = [local[i + 1] for i, part in enumerate(local) if part == "--set"]
    assert f"data.test={(tmp_path / 'dimers_test.xyz').resolve()}" in sets
    assert "train.budget_minutes=3.0" in sets and "seed=1" in sets
    assert long_range[-2:] == ["--set", "model.long_range.electrostatics=latent"]
    run_dir = f"output.run_dir={tmp_path / 'work'}"
    strip = [f"{run_dir}/local" if p == f"{run_dir}/long_range" else p
             for p in long_range[:-2]]
    assert strip == local[:-2] and f"{run_dir}/local" in local


ceiling = _load(ROOT / "benchmarks/long_range_charge_ceiling.py")


def test_the_charge_ceiling_is_the_cross_coulomb_sum_of_the_labelled_charges():
    from ase import Atoms

    dimer = Atoms("NaOH2", positions=[[0, 0, 0], [12.0, 0, 0], [12.6, 0.8, 0],
                                      [12.6, -0.8, 0]])
    charges = np.array([1.0, -0.6, 0.3, 0.3])
    r = np.linalg.norm(dimer.positions[1:] - dimer.positions[0], axis=1)
    expected = ceiling.COULOMB * np.sum(charges[1:] / r)  # erf(r/√2) = 1 at 12 Å
    assert ceiling.cross_coulomb(dimer, 1, charges, 1.0) == pytest.approx(expected, rel=1e-12)
    near = ceiling.cross_coulomb(dimer, 1, charges, 20.0)  # wide Gaussians: damped
    assert abs(near) < abs(expected)
    dimer.info.update(role="dimer", pair="Na+/H2O", distance=12.0, e_int=2 * expected,
                      frame_a=0, frame_b=1)
    dimer.arrays["q"] = charges
    a = Atoms("Na", info=dict(role="A", frame_id=0))
    b = Atoms("OH2", info=dict(role="B", frame_id=1))
    rows = ceiling.ceiling_rows([dimer, a, b], "q", 1.0)
    assert rows == [{"pair": "Na+/H2O", "distance": 12.0, "e_int_ref": 2 * expected,
                     "e_int_pred": pytest.approx(expected, rel=1e-12)}]


def test_the_bench_scores_latent_charges_against_the_reference_ones():
    recs = [{"q_ref": np.array([1.0, -1.0]), "q_pred": np.array([0.9, -0.8])},
            {"e_ref": 0.0}]
    assert bench.charge_errors(recs) == {"charges_mae": pytest.approx(150.0)}
    assert bench.charge_errors([{"e_ref": 0.0}]) == {}
