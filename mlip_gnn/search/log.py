"""The trial log of a search: one JSON line per finished local relaxation, with the relaxed
structure and the driver's state after it, so that a killed search resumes where it was
and a rerun gives what one uninterrupted run gives."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
from ase import Atoms

from mlip_gnn.search.structures import SearchError

__all__ = ["TrialRecord", "TrialLog", "TRIALS_FILE"]

TRIALS_FILE = "trials.jsonl"


@dataclasses.dataclass
class TrialRecord:
    """One local relaxation: where it ended, what the model says of it, and the chain."""

    index: int  # trial number, 0-based: the random numbers drawn are seeded by [seed, index]
    energy: float  # eV, model energy (committee mean) of the relaxed structure
    numbers: List[int]
    positions: List[List[float]]  # Å
    cell: List[List[float]]  # Å, rows
    pbc: List[bool]
    valid: bool = True  # False: a cluster fell apart or the relaxation failed
    converged: bool = True  # the optimiser reached fmax within its steps
    accepted: bool = True  # chains: it became the current minimum
    current: int | None = None  # chains: index of the current minimum after this trial
    state: Dict[str, float] = dataclasses.field(default_factory=dict)  # driver state after
    relax_steps: int = 0  # optimiser steps
    md_steps: int = 0  # minima hopping: MD steps of the escape
    energy_std: float | None = None  # eV, model uncertainty of the energy
    max_forces_std: float | None = None  # eV/Å, largest per-atom force uncertainty
    note: str = ""  # why a trial is not valid
    wall_s: float = 0.0

    def atoms(self) -> Atoms:
        """The relaxed structure."""
        return Atoms(numbers=self.numbers, positions=np.array(self.positions),
                     cell=np.array(self.cell), pbc=self.pbc)

    @classmethod
    def from_atoms(cls, index: int, energy: float, atoms: Atoms, **fields: Any) -> TrialRecord:
        """A record of ``atoms`` (positions, cell, pbc copied in full precision)."""
        return cls(index=index, energy=float(energy), numbers=atoms.numbers.tolist(),
                   positions=atoms.positions.tolist(), cell=atoms.cell.array.tolist(),
                   pbc=[bool(p) for p in atoms.pbc], **fields)


class TrialLog:
    """Append-only JSON-lines file of :class:`TrialRecord`; each line is flushed to disk
    before the next trial starts. A line cut off by a kill is dropped on reading (that
    trial runs again), and a gap or repeat in the numbering is an error."""

    def __init__(self, path: os.PathLike):
        self.path = Path(path)

    def read(self) -> List[TrialRecord]:
        """The finished trials, in order; a cut-off last line is removed from the file."""
        if not self.path.exists():
            return []
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        complete, tail = lines[:-1], lines[-1]
        if tail:  # no newline after the last line: the write was cut off
            with open(self.path, "r+b") as handle:
                handle.truncate(len(raw) - len(tail))
        records = []
        for number, line in enumerate(complete, 1):
            try:
                data = json.loads(line)
                record = TrialRecord(**data)
            except (ValueError, TypeError) as err:
                raise SearchError(f"{self.path}: line {number} is not a trial record ({err}); "
                                  "the log is damaged: move it away to start afresh") from None
            if record.index != len(records):
                raise SearchError(f"{self.path}: line {number} is trial {record.index}, "
                                  f"expected {len(records)}; the log is damaged")
            records.append(record)
        return records

    def append(self, record: TrialRecord) -> None:
        """Write one record as a line and flush it to disk."""
        line = json.dumps(dataclasses.asdict(record), allow_nan=True) + "\n"
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
