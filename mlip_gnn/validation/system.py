"""SYSTEM.yaml: the material, the properties to compute, their settings and the reference.

Read with ``yaml.safe_load`` and checked here, before anything is computed: an unknown key,
property family, element, lattice, reference calculator or table entry is a
:class:`SystemSpecError` that names the key, the value and what is allowed.

>>> spec = load_system("configs/validate/cu_emt.yaml")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import yaml
from ase.data import chemical_symbols

from mlip_gnn.errors import MlipGnnError

__all__ = ["SystemSpecError", "SystemSpec", "Settings", "Reference", "TableValue", "FAMILIES",
           "LATTICES", "load_system", "parse_system", "MagnetismSpec", "MAGNETIC_ORDERS",
           "MAGNETIC_LATTICES"]

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


def _suggest(word: str, allowed) -> str:
    close = difflib.get_close_matches(str(word), [str(a) for a in allowed], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unknown(where: str, key: str, allowed) -> SystemSpecError:
    return SystemSpecError(f"{where}: unknown key {key!r}{_suggest(key, allowed)}; allowed: "
                       f"{', '.join(sorted(allowed))}")


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
        lattice = next(iter(self.orders))
        return lattice, self.orders[lattice][0]


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
        return _import_calculator(self.calculator)(**self.kwargs)

    def describe(self) -> str:
        if self.calculator is not None:
            args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
            return f"{self.calculator}({args})"
        return f"table of values ({self.source})" if self.source else "table of values"


@dataclasses.dataclass
class SystemSpec:
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
    magnetism: MagnetismSpec = dataclasses.field(default_factory=MagnetismSpec)

    @property
    def element(self) -> str:
        return self.elements[0]


def _import_calculator(path: str):
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
                          f"{class_name!r}{_suggest(class_name, dir(module))}")
    return getattr(module, class_name)


def _parse_dataclass(cls, data: Any, where: str):
    if data is None:
        return cls()
    if not isinstance(data, Mapping):
        raise SystemSpecError(f"{where}: expected a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in data.items():
        if key not in fields:
            raise _unknown(where, key, fields)
        default = getattr(cls(), key)
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            if default is None and value is not None and not isinstance(value, (int, float)):
                raise SystemSpecError(f"{where}.{key}: expected a number, got {value!r}")
            values[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SystemSpecError(f"{where}.{key}: expected a number, got {value!r}")
        if isinstance(default, int) and not isinstance(default, bool):
            if value != int(value):
                raise SystemSpecError(f"{where}.{key}: expected an integer, got {value!r}")
            value = int(value)
        if value < 0:
            raise SystemSpecError(f"{where}.{key}: must be >= 0, got {value!r}")
        values[key] = value
    return cls(**values)


def _parse_settings(data: Any) -> Settings:
    if data is None:
        return Settings()
    if not isinstance(data, Mapping):
        raise SystemSpecError(f"settings: expected a mapping, got {data!r}")
    types = {f.name: f.default_factory for f in dataclasses.fields(Settings)}
    parts = {}
    for key, value in data.items():
        if key not in types:
            raise _unknown("settings", key, types)
        parts[key] = _parse_dataclass(type(types[key]()), value, f"settings.{key}")
    return Settings(**parts)


def _parse_table(data: Any, default_source: str) -> Dict[str, TableValue]:
    if data is None or data == {}:  # nothing verified: the model's values stand alone
        return {}
    if not isinstance(data, Mapping):
        raise SystemSpecError("reference.values: expected a mapping of property name → value "
                          f"(or {{value, source}}), got {data!r}")
    table = {}
    for name, entry in data.items():
        source = default_source
        if isinstance(entry, Mapping):
            unknown = set(entry) - {"value", "source"}
            if unknown:
                raise _unknown(f"reference.values.{name}", sorted(unknown)[0],
                               ["value", "source"])
            source = str(entry.get("source") or default_source)
            entry = entry.get("value")
        if isinstance(entry, bool) or not isinstance(entry, (int, float)):
            raise SystemSpecError(f"reference.values.{name}: expected a number, got {entry!r}")
        if not source:
            raise SystemSpecError(f"reference.values.{name}: no source; give reference.source "
                              "or a 'source' for the value")
        table[str(name)] = TableValue(float(entry), source)
    return table


def _parse_reference(data: Any) -> Reference:
    if not isinstance(data, Mapping):
        raise SystemSpecError("reference: expected a mapping with 'calculator' (and 'kwargs') "
                          f"or 'values' (and 'source'), got {data!r}")
    allowed = {"calculator", "kwargs", "values", "source"}
    for key in data:
        if key not in allowed:
            raise _unknown("reference", key, allowed)
    has_calc, has_table = "calculator" in data, "values" in data
    if has_calc == has_table:
        raise SystemSpecError("reference: give either 'calculator' (an ASE calculator by import "
                          "path) or 'values' (a table with its source), not "
                          + ("both" if has_calc else "neither"))
    source = str(data.get("source") or "")
    if has_calc:
        kwargs = data.get("kwargs") or {}
        if not isinstance(kwargs, Mapping):
            raise SystemSpecError(f"reference.kwargs: expected a mapping, got {kwargs!r}")
        ref = Reference(calculator=str(data["calculator"]), kwargs=dict(kwargs), source=source)
        _import_calculator(ref.calculator)  # fail now, not after the model has run
        return ref
    return Reference(table=_parse_table(data["values"], source), source=source)


def _parse_list(data: Mapping, key: str, item, where: str = "") -> list:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise SystemSpecError(f"{where}{key}: expected a list, got {value!r}")
    return [item(v, f"{where}{key}[{i}]") for i, v in enumerate(value)]


def _miller(value: Any, where: str) -> Tuple[int, int, int]:
    if isinstance(value, (str, int)) and str(value).isdigit() and len(str(value)) == 3:
        value = [int(c) for c in str(value)]
    if (not isinstance(value, list) or len(value) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            or not any(value)):
        raise SystemSpecError(f"{where}: expected Miller indices like [1, 1, 1] or 111, got "
                          f"{value!r}")
    return tuple(value)


def _family(value: Any, where: str) -> str:
    if value not in FAMILIES:
        raise SystemSpecError(f"{where}: unknown property {value!r}{_suggest(value, FAMILIES)}; "
                          f"allowed: {', '.join(FAMILIES)}")
    return str(value)


def _phase(value: Any, where: str) -> str:
    if value not in LATTICES:
        raise SystemSpecError(f"{where}: unknown phase {value!r}{_suggest(value, LATTICES)}; "
                          f"allowed: {', '.join(LATTICES)}")
    return str(value)


def _temperature(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise SystemSpecError(f"{where}: expected a temperature > 0 K, got {value!r}")
    return float(value)


def _element(value: Any, where: str) -> str:
    if value not in chemical_symbols[1:]:
        raise SystemSpecError(f"{where}: unknown element {value!r}"
                          f"{_suggest(value, chemical_symbols[1:])}")
    return str(value)


_TOP_KEYS = {"name", "elements", "lattice", "lattice_constant", "c_over_a", "properties",
             "surfaces", "phases", "temperatures", "reference", "settings",
             "committee_tolerance", "magnetism"}


def parse_system(data: Any, base_dir: Optional[Path] = None) -> SystemSpec:
    """Check a SYSTEM.yaml mapping and turn it into a :class:`SystemSpec`; a structure
    file named by ``lattice`` is relative to ``base_dir``."""
    if not isinstance(data, Mapping):
        raise SystemSpecError("SYSTEM.yaml: expected a mapping at the top, got "
                              f"{type(data).__name__}")
    for key in data:
        if key not in _TOP_KEYS:
            raise _unknown("SYSTEM.yaml", key, _TOP_KEYS)
    for key in ("elements", "lattice", "reference"):
        if key not in data:
            raise SystemSpecError(f"SYSTEM.yaml: missing required key {key!r}")
    elements = _parse_list(data, "elements", _element)
    if not elements:
        raise SystemSpecError("elements: list at least one element")
    lattice = str(data["lattice"])
    structure_file = None
    if lattice not in LATTICES:
        path = Path(lattice) if base_dir is None else Path(base_dir) / lattice
        if not path.is_file():
            raise SystemSpecError(f"lattice: {lattice!r} is neither a named lattice "
                              f"({', '.join(LATTICES)}) nor a structure file"
                              f"{_suggest(lattice, LATTICES)}")
        structure_file = path
    elif len(elements) != 1:
        raise SystemSpecError(f"elements: the named lattice {lattice!r} takes one element, got "
                          f"{elements}; give a structure file for compounds")
    properties = _parse_list(data, "properties", _family) if "properties" in data \
        else list(FAST_FAMILIES)
    spec = SystemSpec(
        name=str(data.get("name") or "-".join(elements)), elements=elements, lattice=lattice,
        reference=_parse_reference(data["reference"]),
        lattice_constant=_positive(data, "lattice_constant"),
        c_over_a=_positive(data, "c_over_a"),
        properties=[f for f in FAMILIES if f in properties],
        surfaces=_parse_list(data, "surfaces", _miller),
        phases=_parse_list(data, "phases", _phase),
        temperatures=_parse_list(data, "temperatures", _temperature),
        committee_tolerance=_positive(data, "committee_tolerance") or 0.05,
        settings=_parse_settings(data.get("settings")), structure_file=structure_file,
        magnetism=_parse_magnetism(data.get("magnetism")))
    _check_consistency(spec)
    return spec


def _parse_magnetism(data: Any) -> MagnetismSpec:
    """``magnetism: {moment: 2.2, orders: {bcc: [fm, afm], fcc: [fm, afm]}}``."""
    if data is None:
        return MagnetismSpec()
    if not isinstance(data, Mapping):
        raise SystemSpecError(f"magnetism: expected a mapping, got {data!r}")
    for key in data:
        if key not in ("moment", "orders"):
            raise _unknown("magnetism", key, ["moment", "orders"])
    orders = data.get("orders") or {}
    if not isinstance(orders, Mapping):
        raise SystemSpecError(f"magnetism.orders: expected lattice -> list of orders, got "
                              f"{orders!r}")
    for lattice, names in orders.items():
        if lattice not in MAGNETIC_LATTICES:
            raise SystemSpecError(f"magnetism.orders: lattice {lattice!r} not one of "
                                  f"{', '.join(MAGNETIC_LATTICES)}"
                                  f"{_suggest(lattice, MAGNETIC_LATTICES)}")
        if not isinstance(names, list) or not names:
            raise SystemSpecError(f"magnetism.orders.{lattice}: expected a list of orders "
                                  f"({', '.join(MAGNETIC_ORDERS)}), got {names!r}")
        for name in names:
            if name not in MAGNETIC_ORDERS:
                raise SystemSpecError(f"magnetism.orders.{lattice}: unknown order {name!r}"
                                      f"{_suggest(name, MAGNETIC_ORDERS)}; allowed: "
                                      f"{', '.join(MAGNETIC_ORDERS)}")
    moment = _positive(data, "moment") or MagnetismSpec.moment
    return MagnetismSpec(moment, {str(k): [str(v) for v in vs] for k, vs in orders.items()})


def _positive(data: Mapping, key: str) -> Optional[float]:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise SystemSpecError(f"{key}: expected a positive number, got {value!r}")
    return float(value)


def _check_consistency(spec: SystemSpec) -> None:
    if spec.settings.dynamics.equilibration not in ("npt", "langevin"):
        raise SystemSpecError("settings.dynamics.equilibration: got "
                              f"{spec.settings.dynamics.equilibration!r}; choose npt or "
                              "langevin")
    if "surfaces" in spec.properties and not spec.surfaces:
        spec.properties.remove("surfaces")
    if "phases" in spec.properties and not spec.phases:
        spec.properties.remove("phases")
    if "magnetism" in spec.properties and not spec.magnetism.orders:
        spec.properties.remove("magnetism")
    if "dynamics" in spec.properties and not spec.temperatures:
        raise SystemSpecError("temperatures: property 'dynamics' needs at least one temperature")
    if spec.structure_file is not None:
        for family in ("vacancy", "surfaces", "phases"):
            if family in spec.properties and len(spec.elements) > 1:
                raise SystemSpecError(f"properties: {family!r} is defined here for one-element "
                                  "systems only")
    from mlip_gnn.validation.names import expected_names

    expected = expected_names(spec)
    for name in spec.reference.table:
        if name not in expected:
            raise SystemSpecError(f"reference.values.{name}: no such property is computed for "
                              f"this system{_suggest(name, expected)}; computed: "
                              f"{', '.join(expected)}")


def load_system(path) -> SystemSpec:
    """Read and check SYSTEM.yaml at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise SystemSpecError(f"--system: no such file {str(path)!r}")
    with open(path, encoding="utf-8") as handle:
        try:
            data = yaml.safe_load(handle)
        except yaml.YAMLError as exc:
            raise SystemSpecError(f"{path}: not valid YAML: {exc}") from None
    try:
        return parse_system(data, base_dir=path.parent)
    except SystemSpecError as exc:
        raise SystemSpecError(f"{path}: {exc}") from None
