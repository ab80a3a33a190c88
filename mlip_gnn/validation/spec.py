"""What a checked SYSTEM.yaml describes: the material, the property families, their
settings and the reference (types only; :mod:`mlip_gnn.validation.system` reads and
checks the YAML into them)."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from mlip_gnn.errors import MlipGnnError
from mlip_gnn.utils.suggest import did_you_mean

__all__ = ["SystemSpecError", "SystemSpec", "Settings", "Reference", "TableValue", "FAMILIES",
           "FAST_FAMILIES", "LATTICES", "RelaxSettings", "EOSSettings", "ElasticSettings",
           "VacancySettings", "SurfaceSettings", "PhononSettings", "DynamicsSettings",
           "import_calculator"]


#: property families in the order they run (each later one may use the relaxed bulk)
FAMILIES: Tuple[str, ...] = ("lattice", "eos", "elastic", "vacancy", "surfaces", "phases",
                             "phonons", "dynamics")
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


@dataclasses.dataclass
class RelaxSettings:
    fmax: float = 1e-5  # eV/Å (cell: generalised force of the FrechetCellFilter)
    steps: int = 500


@dataclasses.dataclass
class EOSSettings:
    strain: float = 0.02  # largest linear strain, ± (wide enough to pin B′ down)
    points: int = 9


@dataclasses.dataclass
class ElasticSettings:
    strain: float = 0.005  # ± Voigt strain (shear: engineering γ = 2ε)
    fmax: float = 1e-4  # eV/Å, ionic relaxation at fixed cell
    steps: int = 200


@dataclasses.dataclass
class VacancySettings:
    min_atoms: int = 100
    fmax: float = 1e-4  # eV/Å
    steps: int = 1000
    rattle: float = 0.01  # Å, standard deviation, so that symmetric relaxations can break
    seed: int = 0


@dataclasses.dataclass
class SurfaceSettings:
    layers: int = 9  # ase.build.surface's equivalent layers
    vacuum: float = 10.0  # Å on each side
    fmax: float = 1e-4
    steps: int = 500
    thickness_check: int = 3  # layers fewer for the (unrelaxed) thickness check


@dataclasses.dataclass
class PhononSettings:
    supercell: int = 4  # repetitions of the primitive cell along each vector
    delta: float = 0.01  # Å, finite displacement
    npoints: int = 100  # points along the band path
    dos_kpts: int = 20  # q mesh of the density of states


@dataclasses.dataclass
class DynamicsSettings:
    min_atoms: int = 100
    timestep_fs: float = 2.0
    equilibration: str = "npt"  # "npt" (MTK at zero pressure) or "langevin" (fixed cell)
    equilibration_steps: int = 1000
    production_steps: int = 2000  # NVE
    interval: int = 10  # steps between stored frames
    friction_per_fs: float = 0.02  # Langevin
    tdamp_fs: float = 50.0  # NPT thermostat time
    pdamp_fs: float = 200.0  # NPT barostat time
    melt_K: Optional[float] = None  # equilibrate at this temperature first (make a liquid)
    melt_steps: int = 0
    blocks: int = 4  # error bar of D
    rdf_r_max: float = 6.0  # Å
    seed: int = 0


@dataclasses.dataclass
class Settings:
    relax: RelaxSettings = dataclasses.field(default_factory=RelaxSettings)
    eos: EOSSettings = dataclasses.field(default_factory=EOSSettings)
    elastic: ElasticSettings = dataclasses.field(default_factory=ElasticSettings)
    vacancy: VacancySettings = dataclasses.field(default_factory=VacancySettings)
    surfaces: SurfaceSettings = dataclasses.field(default_factory=SurfaceSettings)
    phonons: PhononSettings = dataclasses.field(default_factory=PhononSettings)
    dynamics: DynamicsSettings = dataclasses.field(default_factory=DynamicsSettings)


@dataclasses.dataclass(frozen=True)
class TableValue:
    value: float
    source: str


@dataclasses.dataclass
class Reference:
    """Either ``calculator`` (import path ``module.Class``) with ``kwargs``, or ``table``
    (property name → value with its source)."""

    calculator: Optional[str] = None
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
    lattice_constant: Optional[float] = None  # Å, starting guess
    c_over_a: Optional[float] = None  # hcp starting guess
    properties: List[str] = dataclasses.field(default_factory=lambda: list(FAST_FAMILIES))
    surfaces: List[Tuple[int, int, int]] = dataclasses.field(default_factory=list)
    phases: List[str] = dataclasses.field(default_factory=list)
    temperatures: List[float] = dataclasses.field(default_factory=list)
    committee_tolerance: float = 0.05  # relative spread above which members disagree
    settings: Settings = dataclasses.field(default_factory=Settings)
    structure_file: Optional[Path] = None

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
