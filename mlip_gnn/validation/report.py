"""validation.json (one entry per property), report.md (the same numbers as a table, the
checks, the committee's disagreements) and the plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

from mlip_gnn.utils.files import atomic_write
from mlip_gnn.validation.plots import write_plots

__all__ = ["JSON_FILE", "REPORT_FILE", "result_dict", "write_report", "read_report_table",
           "report_markdown", "TABLE_COLUMNS"]

JSON_FILE = "validation.json"
REPORT_FILE = "report.md"
TABLE_COLUMNS = ("property", "unit", "model", "reference", "error", "relative error",
                 "spread")


def result_dict(result) -> dict:
    """The result as plain JSON-ready values (validation.json)."""
    return {
        "system": result.system,
        "models": result.models,
        "reference": result.reference,
        "families": result.families,
        "properties": [e.to_dict() for e in result.entries],
        "committee": {"size": len(result.models), "tolerance": result.committee_tolerance,
                      "disagrees_on": result.disagreements},
        "checks": {label: [{"family": c.family, "ok": bool(c.ok), "message": c.message}
                           for c in checks] for label, checks in result.checks.items()},
        "wall_s": result.wall_s,
    }


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.6g}"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:+.3g} %"


def _table(result) -> List[str]:
    lines = ["| " + " | ".join(TABLE_COLUMNS) + " |",
             "|" + "---|" * len(TABLE_COLUMNS)]
    for e in result.entries:
        cells = [e.name, e.unit or "–", _number(e.model), _number(e.reference),
                 _number(e.error), _percent(e.relative_error), _number(e.spread)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def report_markdown(result, plots: List[Path]) -> str:
    """report.md: the table, the checks, disagreements and the plots."""
    lines = [f"# Validation: {result.system}", "",
             f"- model{'s' if len(result.models) > 1 else ''}: "
             + ", ".join(f"`{m}`" for m in result.models),
             f"- reference: {result.reference}",
             f"- properties: {', '.join(result.families)}",
             "- wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in result.wall_s.items()),
             "", "error = model − reference; relative error = error / |reference|"
             + ("; spread = committee standard deviation" if len(result.models) > 1 else "")
             + ".", ""]
    lines += _table(result)
    sources = sorted({e.source for e in result.entries if e.source})
    if sources:
        lines += ["", "Reference values:"] + [f"- {s}" for s in sources]
    missing = [e.name for e in result.entries if e.reference is None
               and not e.name.startswith("nve_energy_drift_")]
    if missing:
        lines += ["", "No reference value for: " + ", ".join(missing) + "."]
    if len(result.models) > 1:
        tol = f"{100 * result.committee_tolerance:g} %"
        lines += ["", ("The committee disagrees (spread > " + tol + " of the value) on: "
                       + ", ".join(result.disagreements) + ".") if result.disagreements
                  else f"The committee agrees on every property within {tol}."]
    lines += ["", "## Checks", ""]
    for label, checks in result.checks.items():
        for c in checks:
            lines.append(f"- {'ok' if c.ok else '**WARNING**'} · {label} · {c.family}: "
                         f"{c.message}")
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    return "\n".join(lines) + "\n"


def write_report(result, out_dir, plots: bool = True) -> Dict[str, Path]:
    """Write validation.json, report.md and (``plots``) the figures into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = write_plots(result, out) if plots else []
    with atomic_write(out / JSON_FILE) as handle:
        json.dump(result_dict(result), handle, indent=1, ensure_ascii=False)
        handle.write("\n")
    with atomic_write(out / REPORT_FILE) as handle:
        handle.write(report_markdown(result, figures))
    return {"json": out / JSON_FILE, "report": out / REPORT_FILE,
            **{p.stem: p for p in figures}}


def read_report_table(path) -> Dict[str, Dict[str, str]]:
    """The property table of a report.md: name → column → cell text."""
    rows: Dict[str, Dict[str, str]] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == len(TABLE_COLUMNS) and line.startswith("|") \
                and cells[0] not in ("property", "---"):
            rows[cells[0]] = dict(zip(TABLE_COLUMNS, cells))
    return rows
