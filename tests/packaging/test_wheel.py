"""The package as a user installs it: ``python -m build`` gives an sdist and a wheel that
hold every module; ``pip install <wheel>`` into a fresh virtual environment that has
torch already (this interpreter's torch, whatever its build: nothing is downloaded for it)
gives a working ``mlip-gnn``: ``--version`` and a short ``train`` on a config that names
only its data, run outside the source tree. About 40 s on 2 cores, most of it pip
installing the other dependencies from the configured index."""

import importlib.metadata as metadata
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from emt_support import write_frames

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "mlip_gnn"


def _run(args, cwd, **kwargs):
    """``args`` run in ``cwd``; the output is shown when it fails."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, **kwargs)
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _torch_closure():
    """torch and what it requires (transitively), as installed distributions."""
    from packaging.requirements import Requirement

    found, todo = {}, ["torch"]
    while todo:
        name = _canonical(todo.pop())
        if name in found or name in ("pip", "setuptools"):
            continue
        dist = found[name] = metadata.distribution(name)
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return found.values()


def _link_torch(venv: Path, folder: Path) -> None:
    """Make this interpreter's torch (and its requirements) installed in ``venv``: links
    to their files in ``folder``, which a .pth file puts on ``venv``'s path, as pip sees
    any distribution on it."""
    folder.mkdir()
    for dist in _torch_closure():
        base = Path(dist.locate_file(""))
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops - {"__pycache__"}:
            if not top.endswith(".pth") and not (folder / top).exists():
                (folder / top).symlink_to(base / top)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "preinstalled_torch.pth").write_text(f"{folder}\n")


@pytest.fixture(scope="module")
def dist_dir(tmp_path_factory):
    """``python -m build`` of the source tree: the sdist, and the wheel built from it."""
    pytest.importorskip("build", reason="python -m build: pip install build (extra 'dev')")
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT], ROOT)
    return out


def test_the_wheel_and_sdist_hold_every_module_and_the_entry_point(dist_dir):
    from mlip_gnn import __version__

    modules = {p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py")}
    (wheel,) = dist_dir.glob(f"mlip_gnn-{__version__}-py3-none-any.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert modules <= names, sorted(modules - names)
    # no data files live in the package; anything but modules and metadata is a leak
    assert {n for n in names if not n.endswith(".py") and ".dist-info/" not in n} == set()
    info = f"mlip_gnn-{__version__}.dist-info"
    entry_points = zipfile.ZipFile(wheel).read(f"{info}/entry_points.txt").decode()
    assert "mlip-gnn = mlip_gnn.cli.main:main" in entry_points
    requires = zipfile.ZipFile(wheel).read(f"{info}/METADATA").decode()
    for extra in ("lammps", "test", "dev"):
        assert f"Provides-Extra: {extra}" in requires
    (sdist,) = dist_dir.glob(f"mlip_gnn-{__version__}.tar.gz")
    members = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
    assert modules <= members, sorted(modules - members)


def test_pip_install_of_the_wheel_gives_a_working_command(dist_dir, tmp_path):
    from mlip_gnn import __version__

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], tmp_path)
    _link_torch(venv, tmp_path / "torch_site")
    python, command = venv / "bin" / "python", venv / "bin" / "mlip-gnn"
    (wheel,) = dist_dir.glob("*.whl")
    _run([python, "-m", "pip", "install", "-q", "-c", ROOT / "constraints.txt", wheel],
         tmp_path)
    # torch stayed the one it found: pip neither replaced it nor fetched another build
    torch_line = _run([python, "-c", "import torch; print(torch.__file__)"], tmp_path)
    assert str(tmp_path / "torch_site") in torch_line.stdout

    work = tmp_path / "work"  # outside the source tree: only the installed package imports
    work.mkdir()
    found = _run([python, "-c", "import mlip_gnn; print(mlip_gnn.__file__)"], work).stdout
    assert found.startswith(str(venv)), found
    assert _run([command, "--version"], work).stdout.strip() == f"mlip_gnn {__version__}"

    write_frames(work / "cu.xyz")
    (work / "my.yaml").write_text("data:\n  train: cu.xyz\n")
    done = _run([command, "train", "my.yaml", "--set", "train.max_epochs=2",
                 "--set", "output.progress=false"], work, timeout=300)
    assert "training finished" in done.stdout + done.stderr
    run_dir = work / "runs" / "default"
    assert (run_dir / "best.pt").is_file() and (run_dir / "metrics.jsonl").is_file()
    exported = work / "cu.pt"
    _run([command, "export", run_dir, "-o", exported], work)
    done = _run([command, "evaluate", exported, "cu.xyz", "-o", "eval"], work)
    assert "device: cpu" in done.stderr or "device: cuda" in done.stderr
