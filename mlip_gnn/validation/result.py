"""What a property driver returns: values, the data of its plots, and its checks."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List

__all__ = ["Check", "Measurement"]


@dataclasses.dataclass
class Check:
    """A consistency or convergence check of one property: ``ok`` False is a warning in
    the report (the value is still given)."""

    family: str
    ok: bool
    message: str


@dataclasses.dataclass
class Measurement:
    """``values``: property name → value in the unit of :func:`~.names.unit_of`;
    ``curves``: plot name → arrays for the report's figures; ``checks``: what was verified."""

    values: Dict[str, float] = dataclasses.field(default_factory=dict)
    curves: Dict[str, Any] = dataclasses.field(default_factory=dict)
    checks: List[Check] = dataclasses.field(default_factory=list)

    def update(self, other: Measurement) -> None:
        """Add ``other``'s values, curves and checks."""
        self.values.update(other.values)
        self.curves.update(other.curves)
        self.checks.extend(other.checks)
