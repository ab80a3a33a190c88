"""``mlip-gnn uncertainty fit``, then the fits at work in ``evaluate`` and ``md``."""

import json

import pytest
from ase.io import read, write
from uncertainty_support import emt_frames, tiny_run

from mlip_gnn.cli.main import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("uq"))


def test_fit_evaluate_and_md_stop(run_dir, tmp_path, capsys):
    assert main(["uncertainty", "fit", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "9 training frames" in out and "3 validation frames" in out
    assert (run_dir / "llpr.pt").is_file() and (run_dir / "distance.pt").is_file()

    write(tmp_path / "test.xyz", emt_frames(4, seed=5), format="extxyz")
    for name in ("llpr", "distance"):
        out_dir = tmp_path / f"eval_{name}"
        assert main(["evaluate", str(run_dir), str(tmp_path / "test.xyz"), "-o", str(out_dir),
                     "--uncertainty", name]) == 0
        metrics = json.loads((out_dir / "metrics.json").read_text())
        section = metrics["calibration"]
        assert section["forces"]["count"] == 4 * 4 * 3 and section["energy"]["count"] == 4
        for key in ("spearman", "nll", "miscalibration_area"):
            assert key in section["forces"] and key in section["energy"]
        assert (out_dir / "calibration.png").stat().st_size > 1000
        assert "calibration (" in capsys.readouterr().out

    write(tmp_path / "start.xyz", emt_frames(1, seed=6)[0] * (2, 2, 2))
    md_dir = tmp_path / "md"
    assert main(["md", str(run_dir), str(tmp_path / "start.xyz"), "--uncertainty", "llpr",
                 "--max-force-std", "1e-9", "--steps", "3", "-o", str(md_dir),
                 "--no-progress"]) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert "LLPR force uncertainty" in err and "exceeds --max-force-std" in err
    frame = read(md_dir / "extrapolated.xyz")
    assert frame.arrays["ood_score"].shape == (32,) and frame.info["max_forces_std"] > 1e-9


def test_fit_of_a_directory_without_a_run_is_refused(tmp_path, capsys):
    assert main(["uncertainty", "fit", str(tmp_path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "no config.yaml; give a training run directory" in err


def test_estimator_without_fit_is_a_clear_error(run_dir, tmp_path, capsys):
    (run_dir / "distance.pt").unlink(missing_ok=True)
    write(tmp_path / "start.xyz", emt_frames(1)[0])
    assert main(["md", str(run_dir), str(tmp_path / "start.xyz"), "--uncertainty",
                 "distance", "-o", str(tmp_path / "md"), "--no-progress"]) == 2
    assert "no descriptor_distance fit found" in " ".join(capsys.readouterr().err.split())
