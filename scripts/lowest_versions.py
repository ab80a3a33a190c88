"""Install the lowest releases pyproject.toml declares into a fresh venv and run a smoke
subset of the tests there, so that the declared floors are ones that work.

    python scripts/lowest_versions.py [--venv .venv-lowest] [--keep]

Every ``name>=X`` of the dependencies is installed as ``name==X``, except torch: on a
machine without a GPU only the CPU build in constraints.txt can be installed without
fetching a CUDA build of several GB, so torch comes from there (the release it pins).
Third-party deprecation warnings are not errors here (an older plotting library calls
names a newer parser deprecates); everything else is as in ``make test``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ["tests/data", "tests/cli/test_main.py", "tests/md", "tests/export/test_export.py",
         "tests/calculators", "tests/train/test_trainer.py"]


def lowest_requirements() -> list[str]:
    """``name==floor`` for every dependency with a ``>=`` floor, torch left out."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    out = []
    for dep in deps:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][^,;\s]*)\s*", dep)
        if match is None:
            raise SystemExit(f"pyproject.toml: {dep!r} has no '>=' floor to test")
        if match.group(1) != "torch":
            out.append(f"{match.group(1)}=={match.group(2)}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv-lowest")
    parser.add_argument("--keep", action="store_true", help="keep the venv afterwards")
    args = parser.parse_args(argv)
    shutil.rmtree(args.venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(args.venv)], check=True)
    python = str(args.venv / "bin" / "python")
    pip = [python, "-m", "pip", "--disable-pip-version-check", "-q", "install"]
    pins = lowest_requirements()
    print("lowest declared releases: " + ", ".join(pins), flush=True)
    subprocess.run([*pip, "-c", str(ROOT / "constraints.txt"), "torch"], check=True)
    subprocess.run([*pip, "-c", str(ROOT / "constraints.txt"), *pins, "pytest>=8",
                    "pytest-xdist>=3.5"], check=True)
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True)
    proc = subprocess.run([python, "-m", "pytest", "-q", "-n", "auto", "--dist", "loadfile",
                           "-m", "not slow", "-W", "ignore::DeprecationWarning", *SMOKE],
                          cwd=ROOT, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    if not args.keep:
        shutil.rmtree(args.venv, ignore_errors=True)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
