"""MD from files: the starting frame read and checked, the models loaded as one calculator,
then :func:`~mlip_gnn.md.run.run_md` (what ``mlip-gnn md`` runs)."""

from __future__ import annotations

import os
from typing import Sequence, Tuple

from ase import Atoms
from ase.io import read

from mlip_gnn.calculators import MLIPCalculator
from mlip_gnn.data import Configuration, KeyMap, optional_moments, read_configurations
from mlip_gnn.md.run import MDResult, MDSettings, run_md

__all__ = ["read_structure", "run_md_from_files"]


def read_structure(path: os.PathLike, index: str = "-1") -> Tuple[Atoms, Configuration]:
    """Frame ``index`` of the structure file ``path`` as ASE atoms and as a checked
    configuration (NaN, zero volume: a DataError that names file and frame); its labels
    are not read, its moments are where present (a spin model needs them, and keeps them
    fixed)."""
    no_labels = optional_moments(KeyMap(energy=None, forces=None, stress=None, virial=None,
                                        weight=None, config_type=None))
    conf = read_configurations(path, no_labels, index=index)[0]
    return read(path, index=index), conf


def run_md_from_files(models: str | Sequence[str], structure: os.PathLike,
                      settings: MDSettings, out_dir: os.PathLike, index: str = "-1",
                      device: str = "auto", use_ema: bool = True, compile: bool = False,
                      estimator: str | None = None, progress: bool = False) -> MDResult:
    """MD of frame ``index`` of ``structure`` with ``models`` (one or a committee: exported
    files, checkpoints or run dirs) and the uncertainty ``estimator`` by name. The frame
    and the models are checked (overlapping atoms, unknown elements) before anything is
    written to ``out_dir``."""
    atoms, conf = read_structure(structure, index)
    atoms.calc = MLIPCalculator(models, device=device, use_ema=use_ema, compile=compile,
                                estimator=estimator)
    atoms.calc.committee.graph(conf)  # overlaps, unknown elements: name file and frame
    return run_md(atoms, settings, out_dir, progress=progress)
