"""What a checked SYSTEM.yaml describes: the material, the property families, their
settings and the reference (types only; :mod:`mlip_gnn.validation.system` reads and
checks the YAML into them)."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any, Dict, List, Literal, Tuple

from mlip_gnn.errors import MlipGnnError
from mlip_gnn.utils.schema import Section, setting
from mlip_gnn.utils.suggest import did_you_mean

__all__ = ["SystemSpecError", "SystemSpec", "Settings", "Reference", "TableValue", "FAMILIES",
           "FAST_FAMILIES", "LATTICES", "RelaxSettings", "EOSSettings", "ElasticSettings",
           "VacancySettings", "SurfaceSettings", "PhononSettings", "DynamicsSettings",
           "import_calculator", "MagnetismSpec", "MAGNETIC_ORDERS", "MAGNETIC_LATTICES"]


#: property families in the order they run (each later one may use the relaxed bulk)
FAMILIES: Tuple[str, ...] = ("lattice", "eos", "elastic", "vacancy", "surfaces", "phases",
                             "magnetism", "phonons", "dynamics")
#: named lattices: ase.build.bulk's crystal structure, atoms in the conventional cell,
#: atoms in the primitive cell
LATTICES: Dict[str, Tuple[int, int]] = {"fcc": (4, 1), "bcc": (2, 1), "diamond": (8, 2),
                                        "hcp": (2, 2), "sc": (1, 1)}
#: default family set: everything but molecular dynamics (the fast set)
FAST_FAMILIES: Tuple[str, ...] = tuple(f for f in FAMILIES if f != "dynamics")


class SystemSpecError(MlipGnnError, ValueError):
    """Raised for a SYSTEM.yaml that cannot be used: unknown key, property family,
    element or lattice; a reference calculator that cannot be imported; a reference
    table entry that names no computed property or has no number."""


def _fmax(default: float, doc: str = "eV/Å") -> Any:
    """The force tolerance of a relaxation (eV/Å, > 0)."""
    return setting(default, doc, gt=0)


def _seed(doc: str) -> Any:
    """A random seed (default 0) and what it seeds."""
    return setting(0, doc, ge=0)


def _steps(default: int) -> Any:
    """The step limit of a relaxation's optimiser (>= 1)."""
    return setting(default, "optimiser steps at most", ge=1)


@dataclasses.dataclass(kw_only=True)
class RelaxSettings(Section):
    """Full cell relaxation of the bulk."""

    fmax: float = _fmax(1e-5, "eV/Å (cell: generalised force of the FrechetCellFilter)")
    steps: int = _steps(500)


@dataclasses.dataclass(kw_only=True)
class EOSSettings(Section):
    """Energy-volume curve for the Birch-Murnaghan fit."""

    strain: float = setting(0.02, "largest linear strain, ± (wide enough to pin B′ down)", gt=0)
    points: int = setting(9, "volumes", ge=5)


@dataclasses.dataclass(kw_only=True)
class ElasticSettings(Section):
    """Stress-strain central differences with relaxed ions."""

    strain: float = setting(0.005, "± Voigt strain (shear: engineering γ = 2ε)", gt=0)
    fmax: float = _fmax(1e-4, "eV/Å, ionic relaxation at fixed cell")
    steps: int = _steps(200)


@dataclasses.dataclass(kw_only=True)
class VacancySettings(Section):
    """Vacancy formation energy in a supercell."""

    min_atoms: int = setting(100, "atoms of the supercell at least", ge=1)
    fmax: float = _fmax(1e-4)
    steps: int = _steps(1000)
    rattle: float = setting(0.01, "Å, standard deviation, so that symmetric relaxations can "
                            "break", ge=0)
    seed: int = _seed("rattle seed")


@dataclasses.dataclass(kw_only=True)
class SurfaceSettings(Section):
    """Relaxed slabs."""

    layers: int = setting(9, "ase.build.surface's equivalent layers", ge=3)
    vacuum: float = setting(10.0, "Å on each side", gt=0)
    fmax: float = _fmax(1e-4)
    steps: int = _steps(500)
    thickness_check: int = setting(3, "layers fewer for the (unrelaxed) thickness check", ge=0)


@dataclasses.dataclass(kw_only=True)
class PhononSettings(Section):
    """Finite-displacement phonons (ase.phonons)."""

    supercell: int = setting(4, "repetitions of the primitive cell along each vector", ge=1)
    delta: float = setting(0.01, "Å, finite displacement", gt=0)
    npoints: int = setting(100, "points along the band path", ge=2)
    dos_kpts: int = setting(20, "q mesh of the density of states", ge=1)


@dataclasses.dataclass(kw_only=True)
class DynamicsSettings(Section):
    """Equilibration (NPT or Langevin), then NVE production at each temperature."""

    min_atoms: int = setting(100, "atoms of the supercell at least", ge=1)
    timestep_fs: float = setting(2.0, "fs", gt=0)
    equilibration: Literal["npt", "langevin"] = setting(
        "npt", "npt (MTK at zero pressure) or langevin (fixed cell)")
    equilibration_steps: int = setting(1000, "steps", ge=0)
    production_steps: int = setting(2000, "NVE steps", ge=1)
    interval: int = setting(10, "steps between stored frames", ge=1)
    friction_per_fs: float = setting(0.02, "Langevin friction, 1/fs", gt=0)
    tdamp_fs: float = setting(50.0, "NPT thermostat time, fs", gt=0)
    pdamp_fs: float = setting(200.0, "NPT barostat time, fs", gt=0)
    melt_K: float | None = setting(None, "equilibrate at this temperature first (make a "
                                      "liquid), K")
    melt_steps: int = setting(0, "steps at melt_K", ge=0)
    blocks: int = setting(4, "blocks of the error bar of D", ge=2)
    rdf_r_max: float = setting(6.0, "Å", gt=0)
    seed: int = _seed("velocity and Langevin seed")


@dataclasses.dataclass(kw_only=True)
class Settings(Section):
    """The families' settings (SYSTEM.yaml ``settings``)."""

    relax: RelaxSettings = setting(factory=RelaxSettings, doc="cell relaxation")
    eos: EOSSettings = setting(factory=EOSSettings, doc="equation of state")
    elastic: ElasticSettings = setting(factory=ElasticSettings, doc="elastic constants")
    vacancy: VacancySettings = setting(factory=VacancySettings, doc="vacancy")
    surfaces: SurfaceSettings = setting(factory=SurfaceSettings, doc="surfaces")
    phonons: PhononSettings = setting(factory=PhononSettings, doc="phonons")
    dynamics: DynamicsSettings = setting(factory=DynamicsSettings, doc="dynamics")


#: magnetic orders the magnetism family builds (see mlip_gnn.data.spin_lattice.ORDERS),
#: and the lattices whose cubic cell carries them
MAGNETIC_ORDERS: Tuple[str, ...] = ("fm", "afm")
MAGNETIC_LATTICES: Tuple[str, ...] = ("bcc", "fcc")


@dataclasses.dataclass
class MagnetismSpec:
    """``orders``: lattice → magnetic orders, relaxed each at fixed moments of size
    ``moment`` (μB); energies are relative to the first order of the first lattice."""

    moment: float = 2.2
    orders: Dict[str, List[str]] = dataclasses.field(default_factory=dict)

    def origin(self) -> Tuple[str, str]:
        """The (lattice, order) the magnetism family's energies are relative to."""
        lattice = next(iter(self.orders))
        return lattice, self.orders[lattice][0]


@dataclasses.dataclass(frozen=True)
class TableValue:
    """A published reference value and its source."""

    value: float
    source: str


@dataclasses.dataclass
class Reference:
    """Either ``calculator`` (import path ``module.Class``) with ``kwargs``, or ``table``
    (property name → value with its source)."""

    calculator: str | None = None
    kwargs: Dict[str, Any] = dataclasses.field(default_factory=dict)
    table: Dict[str, TableValue] = dataclasses.field(default_factory=dict)
    source: str = ""

    def make_calculator(self):
        """A fresh instance of the reference calculator (None for a table)."""
        if self.calculator is None:
            return None
        return import_calculator(self.calculator)(**self.kwargs)

    def describe(self) -> str:
        """The reference in words: the calculator call, or the table and its source."""
        if self.calculator is not None:
            args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
            return f"{self.calculator}({args})"
        return f"table of values ({self.source})" if self.source else "table of values"


@dataclasses.dataclass
class SystemSpec:
    """A checked SYSTEM.yaml: the material, the families to run (in run order), their
    settings and the reference."""

    name: str
    elements: List[str]
    lattice: str  # a key of LATTICES or a structure file
    reference: Reference
    lattice_constant: float | None = None  # Å, starting guess
    c_over_a: float | None = None  # hcp starting guess
    properties: List[str] = dataclasses.field(default_factory=lambda: list(FAST_FAMILIES))
    surfaces: List[Tuple[int, int, int]] = dataclasses.field(default_factory=list)
    phases: List[str] = dataclasses.field(default_factory=list)
    temperatures: List[float] = dataclasses.field(default_factory=list)
    committee_tolerance: float = 0.05  # relative spread above which members disagree
    settings: Settings = dataclasses.field(default_factory=Settings)
    structure_file: Path | None = None
    magnetism: MagnetismSpec = dataclasses.field(default_factory=MagnetismSpec)

    @property
    def element(self) -> str:
        """The (first) element: the one of a named lattice."""
        return self.elements[0]


def import_calculator(path: str) -> type:
    """The class named by the import path ``module.Class``; :class:`SystemSpecError`
    (``reference.calculator``) when it cannot be imported."""
    module_name, _, class_name = path.rpartition(".")
    if not module_name:
        raise SystemSpecError(f"reference.calculator: {path!r} is not an import path "
                          "'module.Class' (e.g. ase.calculators.emt.EMT)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SystemSpecError(f"reference.calculator: cannot import module {module_name!r} "
                          f"of {path!r}: {exc}") from None
    if not hasattr(module, class_name):
        raise SystemSpecError(f"reference.calculator: module {module_name!r} has no "
                          f"{class_name!r}{did_you_mean(class_name, dir(module))}")
    return getattr(module, class_name)
