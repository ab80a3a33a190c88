"""Scores of the long-range benchmark, from predicted and reference energies and forces.

Pure numpy on plain records, so that ``tests/benchmarks`` checks them without training.
A record is one frame: ``frame_id``, ``role`` ("dimer", "A", "B" or, outside the dimer
set, anything), ``pair``, ``num_atoms``, ``e_ref`` / ``e_pred`` (eV), ``f_ref`` /
``f_pred`` ([n, 3], eV/Å); dimers also ``curve``, ``distance`` (nearest-atom, Å) and
``frame_a`` / ``frame_b`` (the ``frame_id`` of their monomer frames).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Dict, Iterable, List, Mapping, Sequence

import numpy as np

__all__ = ["energy_force_errors", "errors_by", "interaction_rows", "far_field_error"]


def energy_force_errors(records: Sequence[Mapping]) -> Dict[str, float]:
    """MAE and RMSE of the energy per atom (meV/atom), the total energy (meV) and the
    force components (meV/Å) over ``records``; ``frames`` counts them."""
    if not records:
        raise ValueError("energy_force_errors: no frames")
    de = np.array([r["e_pred"] - r["e_ref"] for r in records])  # [frames] eV
    natoms = np.array([r["num_atoms"] for r in records], dtype=float)
    df = np.concatenate([np.asarray(r["f_pred"]) - np.asarray(r["f_ref"])
                         for r in records]).ravel()  # [3 n_atoms] eV/Å
    out = {"frames": len(records)}
    for name, err in (("energy", de / natoms), ("energy_total", de), ("forces", df)):
        out[f"{name}_mae"] = 1e3 * float(np.mean(np.abs(err)))
        out[f"{name}_rmse"] = 1e3 * float(np.sqrt(np.mean(err**2)))
    return out


def errors_by(records: Iterable[Mapping], key: str) -> Dict[str, Dict[str, float]]:
    """:func:`energy_force_errors` of the records grouped by ``record[key]``."""
    groups: Dict[str, list] = defaultdict(list)
    for record in records:
        groups[str(record[key])].append(record)
    return {name: energy_force_errors(group) for name, group in sorted(groups.items())}


def interaction_rows(records: Sequence[Mapping]) -> List[Dict[str, object]]:
    """E_int = E(AB) - E(A) - E(B) of every dimer, reference and predicted (eV), with its
    pair, curve and distance; the monomers are found by ``frame_a`` / ``frame_b``."""
    by_id = {r["frame_id"]: r for r in records if r.get("role") in ("A", "B")}
    rows = []
    for dimer in (r for r in records if r.get("role") == "dimer"):
        monomers = []
        for link in ("frame_a", "frame_b"):
            if dimer[link] not in by_id:
                raise ValueError(f"dimer {dimer['frame_id']}: its {link} "
                                 f"{dimer[link]!r} is not among the monomer frames")
            monomers.append(by_id[dimer[link]])
        rows.append({
            "pair": dimer["pair"], "curve": dimer["curve"], "distance": dimer["distance"],
            "e_int_ref": dimer["e_ref"] - sum(m["e_ref"] for m in monomers),
            "e_int_pred": dimer["e_pred"] - sum(m["e_pred"] for m in monomers)})
    return rows


def far_field_error(rows: Sequence[Mapping], threshold: float) -> Dict[str, object]:
    """Interaction-energy error of the rows with ``distance`` > ``threshold`` (Å).

    Per pair: the MAE of E_int over its far rows divided by the mean |E_int,ref| over the
    same rows (``relative``); ``relative_mean`` is the mean of that over the pairs that
    have far rows, ``mae_meV`` the plain MAE over all far rows (meV). A pair whose far
    reference energies are all zero has no relative error: an error is raised.
    """
    far: Dict[str, list] = defaultdict(list)
    for row in rows:
        if row["distance"] > threshold:
            far[row["pair"]].append(row)
    if not far:
        raise ValueError(f"far_field_error: no dimer beyond {threshold} Å")
    per_pair, all_errors = {}, []
    for pair, group in sorted(far.items()):
        ref = np.array([r["e_int_ref"] for r in group])  # eV
        err = np.abs(np.array([r["e_int_pred"] for r in group]) - ref)
        scale = float(np.mean(np.abs(ref)))
        if scale == 0.0:
            raise ValueError(f"far_field_error: pair {pair} has E_int,ref = 0 on all its "
                             f"far frames: no relative error")
        per_pair[pair] = {"frames": len(group), "mae_meV": 1e3 * float(np.mean(err)),
                          "mean_abs_ref_meV": 1e3 * scale,
                          "relative": float(np.mean(err)) / scale}
        all_errors.append(err)
    return {"threshold_A": threshold, "per_pair": per_pair,
            "relative_mean": float(np.mean([p["relative"] for p in per_pair.values()])),
            "mae_meV": 1e3 * float(np.mean(np.concatenate(all_errors))),
            "frames": int(sum(len(g) for g in far.values()))}
