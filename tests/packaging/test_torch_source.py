"""``scripts/torch_source.sh``, which tells ``make venv`` where torch comes from: the CPU
index on a machine without a GPU and without pip sources of its own, pip's configuration
with a GPU or with such sources, and whatever ``TORCH_INDEX`` says. Nothing is installed:
the script only prints pip options."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "scripts" / "torch_source.sh"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


@pytest.fixture
def machine(tmp_path):
    """``run(gpu=..., pip_config=..., **env)`` → (pip options, message) of the script on a
    machine with or without a GPU (a stand-in nvidia-smi) and a pip config file."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("sh", "grep", "cat"):
        found = next((Path(d) / tool for d in os.environ["PATH"].split(os.pathsep)
                      if (Path(d) / tool).exists()), None)
        assert found is not None, tool
        (tools / tool).symlink_to(found)

    def run(gpu=False, pip_config=None, **env):
        (tools / "nvidia-smi").unlink(missing_ok=True)
        if gpu is not False:
            (tools / "nvidia-smi").write_text(f"#!/bin/sh\necho '{gpu}'\n")
            (tools / "nvidia-smi").chmod(0o755)
        python = sys.executable  # real pip, every config file off (PIP_CONFIG_FILE=devnull)
        if pip_config is not None:  # what `python -m pip config list` prints
            python = tmp_path / "python"
            python.write_text(f"#!/bin/sh\ncat <<'END'\n{pip_config}\nEND\n")
            python.chmod(0o755)
        clean = {k: v for k, v in os.environ.items()
                 if not k.startswith(("PIP_", "TORCH_"))}
        done = subprocess.run(["sh", str(SCRIPT), str(python)], capture_output=True,
                              text=True, check=True,
                              env={**clean, "PATH": str(tools), "PIP_CONFIG_FILE": os.devnull,
                                   **env})
        return done.stdout.strip(), done.stderr.strip()

    return run


def test_without_a_gpu_or_pip_sources_the_cpu_index(machine):
    options, message = machine()
    assert options == f"--index-url {CPU_INDEX}"
    assert "no GPU visible" in message and "TORCH_INDEX=pip" in message
    assert machine(TORCH_CPU_INDEX="https://mirror/cpu")[0] == "--index-url https://mirror/cpu"


def test_pip_settings_that_name_no_source_do_not_count(machine):
    assert machine(pip_config="global.timeout='60'\nglobal.cert='/etc/ca.crt'")[0] == \
        f"--index-url {CPU_INDEX}"


def test_a_gpu_leaves_it_to_pip(machine):
    options, message = machine(gpu="GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)")
    assert options == "" and "nvidia-smi lists a GPU" in message
    # nvidia-smi without a GPU (no driver, an empty node) is no GPU
    assert machine(gpu="No devices were found")[0] == f"--index-url {CPU_INDEX}"


@pytest.mark.parametrize("source", [
    {"pip_config": "global.cert='/etc/ssl/certs/ca.crt'\nglobal.find-links='/opt/wheels'"},
    {"pip_config": "install.extra-index-url='https://mirror.example/simple'"},
    {"pip_config": "global.index-url='https://mirror.example/simple'"},
    {"PIP_INDEX_URL": "https://mirror.example/simple"},
    {"PIP_FIND_LINKS": "/opt/wheels"},
])
def test_pip_sources_of_its_own_are_respected(machine, source):
    options, message = machine(**source)
    assert options == "" and "pip is configured with its own package sources" in message


def test_torch_index_decides(machine):
    url = "https://download.pytorch.org/whl/cu126"
    assert machine(TORCH_INDEX=url)[0] == f"--index-url {url}"
    assert machine(gpu="GPU 0: X", TORCH_INDEX=CPU_INDEX)[0] == f"--index-url {CPU_INDEX}"
    assert machine(TORCH_INDEX="pip")[0] == ""


def test_make_venv_installs_torch_with_those_options():
    recipe = (ROOT / "Makefile").read_text()
    assert "install -c constraints.txt torch \\\n\t\t$$(TORCH_INDEX='$(TORCH_INDEX)' sh " \
           "scripts/torch_source.sh $(PY))" in recipe
