"""Labelling structures with the reference method: any ASE calculator, or a command.

A labeller takes one structure and a folder of its own and returns the structure with
energy (eV), forces [n, 3] (eV/Å) and, for a periodic cell, stress (eV/Å³) attached; when
the reference cannot label it, it raises :class:`LabelError` and the loop goes on without
that structure.
"""

from __future__ import annotations

import abc
import importlib
import shlex
import subprocess
from pathlib import Path
from typing import Any, Dict, Mapping

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from mlip_gnn.errors import MlipGnnError

__all__ = ["LabelError", "Labeller", "CalculatorLabeller", "CommandLabeller",
           "make_labeller", "labelled", "import_object"]

_POSITION_TOLERANCE = 1e-4  # Å: extended XYZ keeps 8 decimals; a labeller must not move atoms


class LabelError(MlipGnnError, RuntimeError):
    """Raised when the reference fails on one structure (the calculator raised, the
    command failed or wrote no usable output). The loop reports it and skips the
    structure."""


def import_object(path: str, what: str) -> Any:
    """``'package.module:Name'`` or ``'package.module.Name'`` → the object; a
    :class:`~mlip_gnn.errors.MlipGnnError` naming ``what`` if it cannot be imported."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as err:
        raise LabelError(f"{what}: cannot import {path!r} ({err})") from None


def labelled(atoms: Atoms, results: Mapping[str, Any]) -> Atoms:
    """A clean copy of ``atoms`` (info kept) carrying ``results`` (energy, forces and
    optionally stress) as a single-point calculator."""
    frame = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell,
                  pbc=atoms.pbc, info=dict(atoms.info))
    frame.calc = SinglePointCalculator(frame, **{k: results[k] for k in (
        "energy", "forces", "stress") if results.get(k) is not None})
    return frame


class Labeller(abc.ABC):
    """Labels one structure at a time; see the module docstring."""

    @abc.abstractmethod
    def label(self, atoms: Atoms, folder: Path) -> Atoms:
        """``atoms`` labelled (a new object); ``folder`` exists and is this structure's
        own. Raises :class:`LabelError` when the reference fails."""


class CalculatorLabeller(Labeller):
    """An ASE calculator class by import path, made afresh for each structure with
    ``kwargs`` (and ``directory`` set to the structure's folder when it has one)."""

    def __init__(self, calculator: str, kwargs: Mapping[str, Any] | None = None):
        self.factory = import_object(calculator, "label.calculator")
        self.name = calculator
        self.kwargs: Dict[str, Any] = dict(kwargs or {})
        try:
            self.factory(**self.kwargs)  # bad keyword arguments fail before any work
        except TypeError as err:
            raise LabelError(f"label.kwargs: {calculator} does not accept them ({err})"
                             ) from None

    def calculator(self, folder: Path | None = None):
        """A fresh reference calculator, working in ``folder`` when it has a directory."""
        calc = self.factory(**self.kwargs)
        if folder is not None and hasattr(calc, "directory"):
            calc.directory = str(folder)
        return calc

    def label(self, atoms: Atoms, folder: Path) -> Atoms:
        """A copy of ``atoms`` with the reference energy (eV) and forces (eV/Å)."""
        work = atoms.copy()
        work.calc = self.calculator(folder)
        try:
            results = {"energy": work.get_potential_energy(), "forces": work.get_forces()}
            if work.pbc.all():
                results["stress"] = work.get_stress(voigt=False)
        except Exception as err:  # a reference code fails in many ways; each is reported
            raise LabelError(f"{self.name} failed: {type(err).__name__}: {err}") from err
        return labelled(atoms, results)


class CommandLabeller(Labeller):
    """A shell command run in the structure's folder: it reads ``{input}`` (extended XYZ,
    one frame) and writes ``{output}`` (the same frame with energy and forces)."""

    INPUT, OUTPUT = "input.xyz", "output.xyz"

    def __init__(self, command: str, timeout_s: float | None = None):
        self.command, self.timeout_s = command, timeout_s

    def label(self, atoms: Atoms, folder: Path) -> Atoms:
        """A copy of ``atoms`` labelled by the command, run in ``folder``."""
        from ase.io import read, write

        write(folder / self.INPUT, _bare(atoms), format="extxyz")
        command = self.command.format(input=shlex.quote(self.INPUT),
                                      output=shlex.quote(self.OUTPUT))
        try:
            done = subprocess.run(command, shell=True, cwd=folder, capture_output=True,
                                  text=True, timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            raise LabelError(f"command timed out after {self.timeout_s} s: {command}"
                             ) from None
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip()[-300:]
            raise LabelError(f"command exited with status {done.returncode}: {command}"
                             + (f" ({tail})" if tail else ""))
        output = folder / self.OUTPUT
        try:
            frame = read(output, format="extxyz")
        except Exception as err:  # missing file, or anything ASE cannot parse
            raise LabelError(f"command wrote no readable {output} "
                             f"({type(err).__name__}: {err})") from None
        return labelled(atoms, _checked_results(atoms, frame, output))


def _bare(atoms: Atoms) -> Atoms:
    return Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell,
                 pbc=atoms.pbc)


def _checked_results(atoms: Atoms, frame: Atoms, where: Path) -> Dict[str, Any]:
    if len(frame) != len(atoms) or np.any(frame.numbers != atoms.numbers):
        raise LabelError(f"{where}: atoms differ from the input (count or elements)")
    if np.max(np.abs(frame.positions - atoms.positions), initial=0.0) > _POSITION_TOLERANCE:
        raise LabelError(f"{where}: positions differ from the input")
    results = dict(frame.calc.results) if frame.calc is not None else {}
    for key in ("energy", "forces"):
        if key not in results:
            raise LabelError(f"{where}: no {key} in the output")
    values = [np.asarray(results[k], dtype=np.float64) for k in ("energy", "forces")]
    if not all(np.all(np.isfinite(v)) for v in values):
        raise LabelError(f"{where}: energy or forces are NaN or Inf")
    return results


def make_labeller(label_cfg) -> Labeller:
    """The labeller a :class:`~mlip_gnn.active_learning.schema.LabelConfig` describes."""
    if label_cfg.calculator is not None:
        return CalculatorLabeller(label_cfg.calculator, label_cfg.kwargs)
    return CommandLabeller(label_cfg.command, label_cfg.timeout_s)
