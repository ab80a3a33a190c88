"""The loop: train a committee → explore with MD (and a structure search, where the config
names one) → select → label → retrain, until the model is accurate at the hardest
condition (and on the search's minima) or a budget is spent.

Iteration ``i`` (folder ``iter_<i>``, see :class:`~.records.IterationDir`) trains on the
initial frames plus every frame labelled by iterations ``< i``, logs the held-out errors
of those models, explores with them and labels what it selects; the next iteration trains
on the result. Each step leaves a file that marks it done; see :mod:`.records`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
from ase import Atoms

from mlip_gnn.active_learning import records
from mlip_gnn.active_learning.estimators import EstimatorContext, make_estimator
from mlip_gnn.active_learning.explore import (SCORE_KEY, SEARCH, accurate_fractions,
                                              conditions_for, explore, hardest,
                                              load_exploration)
from mlip_gnn.active_learning.labelling import (CalculatorLabeller, LabelError, Labeller,
                                                make_labeller)
from mlip_gnn.active_learning.records import IterationDir, read_json, write_frames, write_json
from mlip_gnn.active_learning.schema import ALConfig, load_al_config
from mlip_gnn.active_learning.selection import CANDIDATE, classify, select_candidates, select_random
from mlip_gnn.active_learning.structures import build_structures, reference_md_frames, seed_frames
from mlip_gnn.errors import MlipGnnError
from mlip_gnn.utils.paths import check_output_dir

__all__ = ["ActiveLearning", "LoopInterrupted", "TrainFunction", "run_loop"]

_log = logging.getLogger("mlip_gnn.active_learning")

#: ``(config, ...) -> TrainResult``; :func:`mlip_gnn.train.train` by default
TrainFunction = Callable[..., object]


class LoopInterrupted(MlipGnnError, RuntimeError):
    """Raised when a training run inside the loop was stopped by a signal; its checkpoint
    is kept and running the loop again continues it."""

    exit_status = 1


class ActiveLearning:
    """One loop as ``cfg`` says; :meth:`run` starts it or resumes it where it stopped.

    ``labeller`` replaces the one ``cfg.label`` describes (the reference stays the
    config's for a generated held-out set); ``train_fn`` the training function.
    """

    def __init__(self, cfg: ALConfig, labeller: Labeller | None = None,
                 train_fn: TrainFunction | None = None):
        self.cfg = cfg
        self.work_dir = Path(cfg.work_dir)
        self.reference = make_labeller(cfg.label)
        self.labeller = labeller or self.reference
        if train_fn is None:
            from mlip_gnn.train import train as train_fn
        self.train_fn = train_fn
        self.structures = build_structures(cfg.structures)
        self.search = None
        if cfg.explore.search is not None:  # a bad search file fails before any training
            from mlip_gnn.search import load_search_config

            self.search = load_search_config(cfg.explore.search)

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> List[dict]:
        """Run (or resume) to the end; the iterations' summaries (the log lines)."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with records.log_to_work_dir(self.work_dir, _log.name):
            heldout = self._heldout_files()
            labelled = self._initial_frames()
            summaries: List[dict] = []
            for i in range(self.cfg.stop.max_iterations):
                it = IterationDir(self.work_dir, i)
                summary = read_json(it.summary) if it.summary.is_file() else None
                if summary is not None and summary["stop"] and self._stop_reason(
                        i, summary["stage"], summary["accurate_fraction"],
                        summary["labels"]) is None:
                    summary = None  # a larger budget now: this round goes on to label
                    it.plot.unlink(missing_ok=True)
                if summary is None:
                    summary = self._iteration(it, labelled, heldout)
                    write_json(it.summary, summary)
                summaries.append(summary)
                records.write_log(self.work_dir, summaries)
                if not it.plot.is_file():
                    records.plot_progress(summaries, it.plot)
                records.copy_file(it.plot, self.work_dir / records.PLOT_FILE)
                if summary["stop"]:
                    _log.info("stopped after iteration %d: %s", i, summary["stop"])
                    break
                labelled = labelled + _read_frames(it.added)
            return summaries

    def _iteration(self, it: IterationDir, labelled: List[Atoms],
                   heldout: Sequence[Path]) -> dict:
        cfg, i = self.cfg, it.index
        times: Dict[str, float] = {}
        start = time.perf_counter()
        if not it.train_file.is_file():
            write_frames(it.train_file, labelled)
        run_dirs = self._train_committee(it)
        times["train_s"] = time.perf_counter() - start
        errors = self._heldout_errors(it, run_dirs, heldout)

        start = time.perf_counter()
        stage, conditions = conditions_for(cfg.explore, i)
        calc = self._calculator(run_dirs, it.train_file)
        runs = load_exploration(it.explore)
        if runs is None:
            _log.info("iteration %d: exploring %s", i, ", ".join(c.name for c in conditions))
            starts = {name: self.structures[name] for name in cfg.explore.structures}
            runs = explore(it.explore, starts, calc, conditions, cfg.explore,
                           cfg.select.upper, cfg.seed + 1000 * i, self.search)
        times["explore_s"] = time.perf_counter() - start
        frames = [f for run in runs for f in run.frames]
        scores = np.array([f.info[SCORE_KEY] for f in frames])
        kinds = classify(scores, cfg.select.lower, cfg.select.upper)
        fractions = accurate_fractions(runs, cfg.select.lower)
        hard = hardest(conditions).name
        # with a search, the round is as accurate as the worse of the hardest MD condition
        # and the search's minima
        accurate = min(fractions[hard], fractions.get(SEARCH, fractions[hard]))

        stop = self._stop_reason(i, stage, accurate, len(labelled))
        start = time.perf_counter()
        added, failed, selected = [], [], 0
        if stop is None:
            chosen = self._selection(it, frames, kinds, calc)
            selected = len(chosen)
            added, failed = self._label_all(it, chosen)
            write_frames(it.added, added)
        times["label_s"] = time.perf_counter() - start
        summary = {
            "iteration": i, "stage": stage, "labels": len(labelled),
            "explored_frames": len(frames), "candidates": int(np.sum(kinds == CANDIDATE)),
            "selected": selected, "labelled": len(added), "label_failures": failed,
            "labels_total": len(labelled) + len(added),
            "accurate_fraction": accurate, "hardest_condition": hard,
            "accurate_fraction_by_condition": fractions,
            "trajectories_stopped": sum(run.stopped_at is not None for run in runs),
            **errors, **{k: round(v, 2) for k, v in times.items()}, "stop": stop}
        _log.info("iteration %d: %s", i, json.dumps({k: summary[k] for k in (
            "labels", "candidates", "accurate_fraction", "heldout_forces_rmse",
            "labelled") if k in summary}))
        return summary

    def _stop_reason(self, i: int, stage: int, hard_fraction: float,
                     num_labels: int) -> str | None:
        stop = self.cfg.stop
        last_stage = stage == len(self.cfg.explore.schedule) - 1
        if last_stage and hard_fraction >= stop.accurate_fraction:
            return "converged"
        if stop.max_labels is not None and num_labels >= stop.max_labels:
            return "max_labels"
        if i == stop.max_iterations - 1:
            return "max_iterations"
        return None

    # -- steps ----------------------------------------------------------------------------

    def _train_committee(self, it: IterationDir) -> List[Path]:
        from mlip_gnn.config import load_config

        t = self.cfg.training
        base = load_config(t.config, t.overrides)
        for k in range(t.committee):
            if it.member_done(k).is_file():
                continue
            overrides = list(t.overrides)
            if t.warm_start and it.index > 0:
                previous = IterationDir(self.work_dir, it.index - 1).member(k)
                overrides += [f"model.init_from={json.dumps(str(previous))}",
                              *t.warm_start_overrides]
            overrides += [f"data.train={json.dumps(str(it.train_file))}", "data.valid=null",
                          "data.test=null", f"seed={base.seed + k}",
                          f"output.run_dir={json.dumps(str(it.member(k)))}"]
            _log.info("iteration %d: training model %d of %d", it.index, k + 1, t.committee)
            result = self.train_fn(load_config(t.config, overrides))
            # a time limit ends a run normally here; a signal means: stop the loop too
            if str(getattr(result, "stop_reason", "")).startswith("signal"):
                raise LoopInterrupted(f"training of {it.member(k)} stopped "
                                      f"({result.stop_reason}); run the loop again to go on")
            write_json(it.member_done(k), {"stop_reason": getattr(result, "stop_reason", "")})
        return [it.member(k) for k in range(t.committee)]

    def _calculator(self, run_dirs: List[Path], train_file: Path):
        from mlip_gnn.calculators import MLIPCalculator

        select = self.cfg.select
        context = EstimatorContext(run_dirs, train_file, select.estimator_options)
        estimator = make_estimator(select.estimator, context)
        return MLIPCalculator([str(d) for d in run_dirs], device=self.cfg.device,
                              estimator=estimator)

    def _heldout_errors(self, it: IterationDir, run_dirs: List[Path],
                        heldout: Sequence[Path]) -> dict:
        if not heldout:
            return {}
        if not it.heldout.is_file():
            from mlip_gnn.evaluation import evaluate

            report, _ = evaluate([str(d) for d in run_dirs], heldout, device=self.cfg.device)
            overall = report["overall"]
            write_json(it.heldout, {"heldout_energy_rmse": overall.get("energy_rmse"),
                                    "heldout_forces_rmse": overall.get("forces_rmse"),
                                    "units": {"heldout_energy_rmse": "meV/atom",
                                              "heldout_forces_rmse": "meV/Å"}})
        return {k: v for k, v in read_json(it.heldout).items() if k != "units"}

    def _selection(self, it: IterationDir, frames: List[Atoms], kinds: np.ndarray,
                   calc) -> List[Atoms]:
        """The frames to label, chosen once and saved (a resumed loop labels the same)."""
        if it.selection.is_file():
            return _read_frames(it.selection)
        select = self.cfg.select
        if select.strategy == "random":
            pool = [f for f in frames if not f.info.get("al_stopped")]
            rng = np.random.default_rng(self.cfg.seed + 7919 * (it.index + 1))
            chosen = [pool[j] for j in select_random(len(pool), select.max_candidates, rng)]
        else:
            scores = np.array([f.info[SCORE_KEY] for f in frames])
            pool = np.flatnonzero(kinds == CANDIDATE)
            descriptors = np.zeros((len(frames), 0))
            if len(pool) > select.max_candidates:
                descriptors = _descriptors(frames, pool, calc, select.features)
            picked = select_candidates(scores, descriptors, select.lower, select.upper,
                                       select.max_candidates)
            chosen = [frames[j] for j in picked]
        chosen = chosen[:self._label_budget(it)]
        for j, frame in enumerate(chosen):
            frame.info["al_id"] = f"iter{it.index:03d}_{j:05d}"  # not a number in extxyz
        write_frames(it.selection, chosen)
        return chosen

    def _label_budget(self, it: IterationDir) -> int:
        max_labels = self.cfg.stop.max_labels
        if max_labels is None:
            return self.cfg.select.max_candidates
        return max(0, max_labels - len(_read_frames(it.train_file)))

    def _label_all(self, it: IterationDir, frames: Sequence[Atoms]) -> tuple:
        """Label each frame unless its label (or failure) file exists; (labelled frames,
        failure messages)."""
        added, failed = [], []
        for frame in frames:
            frame = _without_results(frame)
            ok, value = _label_once(self.labeller, frame, it.labels / frame.info["al_id"])
            (added if ok else failed).append(value)
        if failed:
            _log.warning("iteration %d: %d structure(s) not labelled: %s", it.index,
                         len(failed), "; ".join(failed))
        return added, failed

    # -- data sets ------------------------------------------------------------------------

    def _initial_frames(self) -> List[Atoms]:
        initial = self.cfg.initial
        if initial.file is not None:
            from mlip_gnn.data import read_configurations

            for path in initial.file:  # a missing label is reported against this file
                read_configurations(path, require_energy=True, require_forces=True)
            frames = [f for path in initial.file for f in _read_frames(Path(path))]
            for frame in frames:
                frame.info.setdefault("config_type", "initial")
            return frames
        path = self.work_dir / "initial.xyz"
        if not path.is_file():
            rng = np.random.default_rng(self.cfg.seed)
            templates = [self.structures[name] for name in initial.structures]
            seeds = seed_frames(templates, initial.frames, initial.rattle, initial.strain, rng)
            write_frames(path, self._label_set(seeds, self.work_dir / "initial", "initial"))
        return _read_frames(path)

    def _heldout_files(self) -> List[Path]:
        heldout = self.cfg.heldout
        if heldout is None:
            return []
        if heldout.file is not None:
            return [Path(p) for p in heldout.file]
        path = self.work_dir / "heldout.xyz"
        if not path.is_file():
            g = heldout.generate
            reference = self.reference
            assert isinstance(reference, CalculatorLabeller)  # the schema requires it
            _log.info("making the held-out set: %d frames of %g K MD with %s", g.frames,
                      g.temperature, reference.name)
            frames = reference_md_frames(self.structures[g.structure], reference.calculator(),
                                         g.temperature, g.frames, g.equilibration_steps,
                                         g.interval, g.timestep_fs, self.cfg.seed + 99991)
            write_frames(path, self._label_set(frames, self.work_dir / "heldout", "heldout",
                                               reference))
        return [path]

    def _label_set(self, frames: List[Atoms], folder: Path, prefix: str,
                   labeller: Labeller | None = None) -> List[Atoms]:
        out = []
        for j, frame in enumerate(frames):
            frame.info["al_id"] = f"{prefix}_{j:05d}"
            ok, value = _label_once(labeller or self.labeller, frame, folder / frame.info["al_id"])
            if ok:
                out.append(value)
            else:
                _log.warning("%s frame %d not labelled: %s", prefix, j, value)
        return out


def _label_once(labeller: Labeller, frame: Atoms, stem: Path) -> tuple:
    """(True, labelled frame) or (False, message); the outcome is saved beside ``stem``
    (``.xyz`` or ``.failed``) before returning, and a saved outcome is returned as is."""
    done, failed = stem.with_suffix(".xyz"), stem.with_suffix(".failed")
    if done.is_file():
        return True, _read_frames(done)[0]
    if failed.is_file():
        return False, failed.read_text(encoding="utf-8")
    folder = stem.parent / (stem.name + ".work")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        result = labeller.label(frame, folder)
    except LabelError as err:
        message = f"{frame.info.get('al_id')}: {err}"
        write_json(failed, message)
        return False, message
    result.info.update(frame.info)
    write_frames(done, [result])
    if not any(folder.iterdir()):  # nothing the reference left behind is worth keeping
        folder.rmdir()
    return True, result


def _descriptors(frames: Sequence[Atoms], rows: np.ndarray, calc, kind: str) -> np.ndarray:
    """[len(frames), d]: for the frames in ``rows``, the per-frame mean of every model's
    last-layer ``kind`` features, concatenated over models (zeros elsewhere)."""
    from mlip_gnn.data import KeyMap, configuration_from_atoms

    no_labels = KeyMap(*(None,) * len(dataclasses.fields(KeyMap)))
    out: np.ndarray | None = None
    for j in rows:
        conf = configuration_from_atoms(frames[j], no_labels, source=f"explored frame {j}")
        prediction = calc.committee.predict(conf, features=True)
        parts = []
        for member in prediction.members:
            names = sorted((n for n in member.features if n.startswith(kind + ".")),
                           key=lambda n: int(n.rsplit(".", 1)[1]))
            parts.append(member.features[names[-1]].mean(axis=0))
        vector = np.concatenate(parts)
        if out is None:
            out = np.zeros((len(frames), len(vector)))
        out[j] = vector
    return out if out is not None else np.zeros((len(frames), 0))


def _without_results(frame: Atoms) -> Atoms:
    clean = Atoms(numbers=frame.numbers, positions=frame.positions, cell=frame.cell,
                  pbc=frame.pbc, info={k: v for k, v in frame.info.items()
                                       if k in ("al_id", "al_trajectory", "al_step",
                                                "temperature_K", "pressure_GPa")})
    clean.info["config_type"] = "active_learning"
    return clean


def _read_frames(path: Path) -> List[Atoms]:
    from ase.io import read

    if not path.is_file() or path.stat().st_size == 0:
        return []
    return read(path, ":", format="extxyz")



def run_loop(config: os.PathLike, work_dir: os.PathLike | None = None
             ) -> Tuple[List[dict], Path]:
    """``mlip-gnn active-learn``: the loop of the AL.yaml at ``config`` (``work_dir``
    replaces its work_dir, relative to the current folder), after checking that its work
    directory can be written. Returns the rounds' summaries and the work directory."""
    cfg = load_al_config(config)
    if work_dir is not None:
        cfg = dataclasses.replace(cfg, work_dir=os.path.abspath(work_dir))
    check_output_dir(cfg.work_dir, "work_dir")
    return ActiveLearning(cfg).run(), Path(cfg.work_dir)
