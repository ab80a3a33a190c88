"""SYSTEM.yaml: the material, the properties to compute, their settings and the reference.

Read with ``yaml.safe_load`` and checked here, before anything is computed: an unknown key,
property family, element, lattice, reference calculator or table entry is a
:class:`SystemSpecError` that names the key, the value and what is allowed.

>>> spec = load_system("configs/validate/cu_emt.yaml")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Dict, Mapping, Tuple

import yaml
from ase.data import chemical_symbols

from mlip_gnn.utils.schema import ConfigError, build, unknown_key
from mlip_gnn.utils.suggest import did_you_mean
from mlip_gnn.validation.names import expected_names
from mlip_gnn.validation.spec import (FAMILIES, FAST_FAMILIES, LATTICES, MAGNETIC_LATTICES,
                                      MAGNETIC_ORDERS, MagnetismSpec, Reference, Settings,
                                      SystemSpec, SystemSpecError, TableValue,
                                      import_calculator)

__all__ = ["SystemSpecError", "SystemSpec", "FAMILIES", "LATTICES", "load_system",
           "parse_system"]


def _unknown(where: str, key: str, allowed) -> SystemSpecError:
    """The toolkit's unknown-key error (nearest valid key, every valid key) as ours."""
    return SystemSpecError(str(unknown_key(where, str(key), [str(a) for a in allowed])))


def _parse_settings(data: Any) -> Settings:
    """``settings`` checked by the schema toolkit: unknown keys, types and ranges name the
    dotted key (``settings.elastic.strain``)."""
    try:
        return build(Settings, data, "settings")
    except ConfigError as exc:
        raise SystemSpecError(str(exc)) from None


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
        import_calculator(ref.calculator)  # fail now, not after the model has run
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
        raise SystemSpecError(f"{where}: unknown property {value!r}"
                              f"{did_you_mean(value, FAMILIES)}; allowed: {', '.join(FAMILIES)}")
    return str(value)


def _phase(value: Any, where: str) -> str:
    if value not in LATTICES:
        raise SystemSpecError(f"{where}: unknown phase {value!r}{did_you_mean(value, LATTICES)}; "
                          f"allowed: {', '.join(LATTICES)}")
    return str(value)


def _temperature(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise SystemSpecError(f"{where}: expected a temperature > 0 K, got {value!r}")
    return float(value)


def _element(value: Any, where: str) -> str:
    if value not in chemical_symbols[1:]:
        raise SystemSpecError(f"{where}: unknown element {value!r}"
                          f"{did_you_mean(value, chemical_symbols[1:])}")
    return str(value)


_TOP_KEYS = {"name", "elements", "lattice", "lattice_constant", "c_over_a", "properties",
             "surfaces", "phases", "temperatures", "reference", "settings",
             "committee_tolerance", "magnetism"}


def parse_system(data: Any, base_dir: Path | None = None) -> SystemSpec:
    """Check a SYSTEM.yaml mapping and turn it into a :class:`SystemSpec`; a structure
    file named by ``lattice`` is relative to ``base_dir``."""
    if not isinstance(data, Mapping):
        raise SystemSpecError("SYSTEM.yaml: expected a mapping at the top, got "
                              f"{type(data).__name__}")
    for key in data:
        if key not in _TOP_KEYS:
            raise _unknown("", key, _TOP_KEYS)
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
                              f"{did_you_mean(lattice, LATTICES)}")
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
    return _runnable_families(spec)


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
                                  f"{did_you_mean(lattice, MAGNETIC_LATTICES)}")
        if not isinstance(names, list) or not names:
            raise SystemSpecError(f"magnetism.orders.{lattice}: expected a list of orders "
                                  f"({', '.join(MAGNETIC_ORDERS)}), got {names!r}")
        for name in names:
            if name not in MAGNETIC_ORDERS:
                raise SystemSpecError(f"magnetism.orders.{lattice}: unknown order {name!r}"
                                      f"{did_you_mean(name, MAGNETIC_ORDERS)}; allowed: "
                                      f"{', '.join(MAGNETIC_ORDERS)}")
    moment = _positive(data, "moment") or MagnetismSpec.moment
    return MagnetismSpec(moment, {str(k): [str(v) for v in vs] for k, vs in orders.items()})


def _positive(data: Mapping, key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise SystemSpecError(f"{key}: expected a positive number, got {value!r}")
    return float(value)


def _runnable_families(spec: SystemSpec) -> SystemSpec:
    """``spec`` without the surfaces, phases and magnetism families when it names no
    surface, phase or magnetic order (nothing to compute), checked for what the families
    need."""
    dropped = {"surfaces": not spec.surfaces, "phases": not spec.phases,
               "magnetism": not spec.magnetism.orders}
    spec = dataclasses.replace(spec, properties=[f for f in spec.properties
                                                 if not dropped.get(f, False)])
    if "dynamics" in spec.properties and not spec.temperatures:
        raise SystemSpecError("temperatures: property 'dynamics' needs at least one temperature")
    if spec.structure_file is not None:
        for family in ("vacancy", "surfaces", "phases"):
            if family in spec.properties and len(spec.elements) > 1:
                raise SystemSpecError(f"properties: {family!r} is defined here for one-element "
                                      "systems only")
    expected = expected_names(spec)
    for name in spec.reference.table:
        if name not in expected:
            raise SystemSpecError(f"reference.values.{name}: no such property is computed for "
                                  f"this system{did_you_mean(name, expected)}; computed: "
                                  f"{', '.join(expected)}")
    return spec


def load_system(path) -> SystemSpec:
    """Read and check SYSTEM.yaml at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise SystemSpecError(f"--system: file not found: {path}")
    with open(path, encoding="utf-8") as handle:
        try:
            data = yaml.safe_load(handle)
        except yaml.YAMLError as exc:
            raise SystemSpecError(f"{path}: not valid YAML: {exc}") from None
        except UnicodeDecodeError as exc:
            raise SystemSpecError(f"{path}: not a text file (byte {exc.start} is not UTF-8); "
                                  "a YAML file was expected") from None
    try:
        return parse_system(data, base_dir=path.parent)
    except SystemSpecError as exc:
        raise SystemSpecError(f"{path}: {exc}") from None
