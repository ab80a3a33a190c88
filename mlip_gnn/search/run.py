"""A whole search: check the inputs, resume the trial log, run the driver up to the
budget, and write the minima and the report."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Sequence

from mlip_gnn.search.drivers import DRIVERS
from mlip_gnn.search.log import TRIALS_FILE, TrialLog, TrialRecord
from mlip_gnn.search.minima import Minimum, distinct_minima
from mlip_gnn.search.report import write_outputs
from mlip_gnn.search.schema import SearchConfig
from mlip_gnn.search.structures import SearchError
from mlip_gnn.utils.files import atomic_write

__all__ = ["SearchResult", "run_search", "run_search_with_models", "model_calculator",
           "SETTINGS_FILE"]

SETTINGS_FILE = "search.json"
#: settings a rerun may change: the budget and where things go (not the models:
#: energies of two models in one search would not compare)
_MAY_CHANGE = ("trials", "out_dir")


@dataclasses.dataclass
class SearchResult:
    """The trials (all of them, earlier runs' included), the distinct minima (lowest
    first), the report's data and the trials this run added."""

    records: List[TrialRecord]
    minima: List[Minimum]
    report: Dict
    new_trials: int


def _settings(cfg: SearchConfig) -> Dict:
    return {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _MAY_CHANGE}


def _check_same_search(cfg: SearchConfig, out: Path) -> None:
    """A SearchError when ``out`` holds a search with other settings (a resume must be
    the same search); writes the settings for a new one."""
    path = out / SETTINGS_FILE
    now = _settings(cfg)
    if path.exists():
        before = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        if changed:
            raise SearchError(f"{out} holds a search with other settings ({', '.join(changed)} "
                              f"differ; see {path}): a rerun continues the same search; "
                              "choose another output folder for a new one")
        return
    with atomic_write(path) as handle:
        json.dump(now, handle, indent=1)


def _log_line(record: TrialRecord, best: float, n_atoms: int, total: int) -> str:
    status = "" if record.valid else f" invalid: {record.note}"
    return (f"trial {record.index + 1}/{total}: E {record.energy / n_atoms:.4f} eV/atom, "
            f"{record.relax_steps} steps{', accepted' if record.accepted else ''}; lowest "
            f"{best / n_atoms:.4f} eV/atom{status}")


def run_search(cfg: SearchConfig, calculator, out_dir: os.PathLike | None = None,
               plots: bool = True, log: Callable[[str], None] | None = None) -> SearchResult:
    """Search with ``calculator`` (any ASE calculator) as ``cfg`` says, into ``out_dir``
    (default ``cfg.out_dir``). Every finished trial is appended to ``trials.jsonl``; a
    rerun into the same folder continues from there (no trial lost or repeated) up to
    ``cfg.trials``, and the outputs are written from all the trials."""
    out = Path(out_dir if out_dir is not None else cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_same_search(cfg, out)
    trial_log = TrialLog(out / TRIALS_FILE)
    records = trial_log.read()
    driver = DRIVERS[cfg.method](cfg, calculator)
    driver.resume(records)
    n_atoms = sum(cfg.composition.values())
    best = min((r.energy for r in records if r.valid), default=float("inf"))
    began = time.perf_counter()
    for index in range(len(records), cfg.trials):
        record = driver.step(index)
        trial_log.append(record)
        if record.valid:
            best = min(best, record.energy)
        if log is not None:
            log(_log_line(record, best, n_atoms, cfg.trials))
    minima = distinct_minima(driver.records, cfg)
    report = write_outputs(driver.records, minima, cfg, out, time.perf_counter() - began,
                           plots)
    return SearchResult(driver.records, minima, report, len(driver.records) - len(records))


def model_calculator(cfg: SearchConfig, models: Sequence[str] | None = None,
                     device: str = "auto"):
    """The :class:`~mlip_gnn.calculators.MLIPCalculator` of ``models`` (default
    ``cfg.models``; several = committee) with ``cfg.estimator`` on ``device``, checked
    against the composition: a missing model file is a ModelFileError, an element the
    model does not know a SearchError naming ``composition``."""
    from ase.data import atomic_numbers, chemical_symbols

    from mlip_gnn.calculators import MLIPCalculator

    models = list(models) if models else list(cfg.models)
    if not models:
        raise SearchError("no model: give 'models' in the search config or --model")
    calculator = MLIPCalculator(models, device=device, estimator=cfg.estimator)
    known = set(calculator.committee.atomic_numbers)
    for symbol in cfg.composition:
        if atomic_numbers[symbol] not in known:
            names = ", ".join(chemical_symbols[z] for z in sorted(known))
            raise SearchError(f"composition.{symbol}: the model does not know {symbol} (it "
                              f"was trained on {names})")
    return calculator


def run_search_with_models(cfg: SearchConfig, models: Sequence[str] | None = None,
                           out_dir: os.PathLike | None = None, plots: bool = True,
                           progress: bool = True, device: str = "auto") -> SearchResult:
    """:func:`run_search` with the model(s) of ``models`` or ``cfg.models`` on ``device``
    (checked before anything is written); progress lines go to stderr."""
    calculator = model_calculator(cfg, models, device)
    if models:  # the models used are part of the search's settings
        cfg = dataclasses.replace(cfg, models=[os.path.abspath(m) for m in models])

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    return run_search(cfg, calculator, out_dir, plots, log if progress else None)
