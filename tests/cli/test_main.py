import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from mlip_gnn.cli.main import SUBCOMMANDS, main
from mlip_gnn.modelio import load_checkpoint

from cli_support import config_writer, write_frames


@pytest.fixture(scope="module")
def cu_xyz(tmp_path_factory):
    return write_frames(tmp_path_factory.mktemp("cli-data") / "cu.xyz")


@pytest.fixture
def write_config(cu_xyz, tmp_path):
    return config_writer(cu_xyz, tmp_path)


def _run_cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "mlip_gnn", *args], capture_output=True,
                          text=True, timeout=120, **kwargs)


def test_help_lists_subcommands_and_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "train" in capsys.readouterr().out and "train" in SUBCOMMANDS
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for option in ("--set KEY=VALUE", "--resume RUN_DIR", "--device", "SIGTERM"):
        assert option in text


def test_bad_config_exits_2_naming_the_key_without_traceback(write_config):
    path = write_config(train={"max_epoch": 3})
    proc = _run_cli("train", str(path))
    assert proc.returncode == 2
    assert "train.max_epoch" in proc.stderr and "max_epochs" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.parametrize("args, message", [
    (["--set", "data.train=missing.xyz"], "missing.xyz: file not found"),
    (["--set", "loss.kind=l3"], "loss.kind"),
    (["--resume", "{tmp}/empty"], "no checkpoint"),
])
def test_user_errors_exit_2(write_config, tmp_path, capsys, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(["train", str(write_config()), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_set_overrides_apply(write_config, tmp_path):
    run_dir = tmp_path / "other"
    code = main(["train", str(write_config()), "--set", "train.max_epochs=1",
                 "--set", f"output.run_dir={run_dir}", "--device", "cpu"])
    assert code == 0
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["train"]["max_epochs"] == 1
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [0]


def test_sigterm_checkpoints_exits_0_and_resume_continues(write_config, tmp_path):
    path = write_config(train={"max_epochs": 500})
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "mlip_gnn", "train", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while not (run_dir / "last.pt").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped (signal SIGTERM)" in out and "--resume" in out
    epoch = load_checkpoint(run_dir / "last.pt")["loop"]["epoch"]
    assert main(["train", str(path), "--resume", str(run_dir),
                 "--set", f"train.max_epochs={epoch + 1}"]) == 0
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == list(range(epoch + 1))
