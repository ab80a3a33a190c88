"""Property names and units: one place that says what each family reports.

The names are those of ``validation.json``: ``lattice_constant`` (Å), ``bulk_modulus``
(GPa), ``C11`` ... (GPa), ``vacancy_formation_energy`` (eV, relaxed),
``surface_energy_111`` (J/m²), ``phase_energy_bcc`` (meV/atom, relative to the named
ground-state lattice), ``phonon_frequency_X`` (THz, highest branch at a special point),
``diffusion_coefficient_1400K`` (m²/s), ``rdf_first_peak_1400K`` (Å),
``nve_energy_drift_1400K`` (meV/atom/ps), ``magnetic_energy_bcc_afm`` (meV/atom,
relative to the first magnetic order of the ground-state lattice), ``magnetic_volume_bcc_afm``
(Å³/atom, relaxed at fixed moments).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List, Sequence, Tuple

from mlip_gnn.validation.structures import primitive_cell

if TYPE_CHECKING:
    from mlip_gnn.validation.spec import SystemSpec

__all__ = ["UNITS", "unit_of", "expected_names", "elastic_names", "surface_name",
           "phase_name", "temperature_tag", "phonon_labels", "MODEL_ONLY", "magnetic_names"]

#: unit of each name, or of each name prefix (ending in "_")
UNITS: Dict[str, str] = {
    "lattice_constant": "Å", "c_over_a": "", "volume_per_atom": "Å³",
    "bulk_modulus": "GPa", "bulk_modulus_derivative": "",
    "vacancy_formation_energy": "eV", "vacancy_formation_energy_unrelaxed": "eV",
    "surface_energy_": "J/m²", "phase_energy_": "meV/atom", "phonon_frequency_": "THz",
    "diffusion_coefficient_": "m²/s", "rdf_first_peak_": "Å",
    "nve_energy_drift_": "meV/atom/ps", "C": "GPa",
    "magnetic_energy_": "meV/atom", "magnetic_volume_": "Å³",
}
#: prefixes of names that describe the model alone (no reference value is compared)
MODEL_ONLY: Tuple[str, ...] = ("nve_energy_drift_",)

_CUBIC = ("C11", "C12", "C44")
_HEXAGONAL = ("C11", "C12", "C13", "C33", "C44")
_GENERAL = ("C11", "C22", "C33", "C12", "C13", "C23", "C44", "C55", "C66")


def unit_of(name: str) -> str:
    """The unit of property ``name`` (by name or prefix)."""
    if name in UNITS:
        return UNITS[name]
    for prefix, unit in UNITS.items():
        if prefix.endswith("_") and name.startswith(prefix):
            return unit
    if name[:1] == "C" and name[1:].isdigit():
        return UNITS["C"]
    raise KeyError(f"no unit known for property {name!r}")


def elastic_names(lattice: str) -> Tuple[str, ...]:
    """Independent elastic constants reported for a lattice (a structure file: all nine
    orthotropic ones)."""
    if lattice in ("fcc", "bcc", "diamond", "sc"):
        return _CUBIC
    if lattice == "hcp":
        return _HEXAGONAL
    return _GENERAL


def surface_name(miller: Sequence[int]) -> str:
    """Property name of the surface energy of ``miller``, e.g. ``surface_energy_111``."""
    return "surface_energy_" + "".join(str(int(i)) for i in miller)


def phase_name(phase: str) -> str:
    """Property name of the energy of ``phase``, e.g. ``phase_energy_bcc``."""
    return f"phase_energy_{phase}"


def magnetic_names(lattice: str, order: str) -> Tuple[str, str]:
    """Names of the energy and the volume of a lattice in a magnetic order."""
    return f"magnetic_energy_{lattice}_{order}", f"magnetic_volume_{lattice}_{order}"


def temperature_tag(temperature_K: float) -> str:
    """Temperature suffix of dynamics names, e.g. ``1400K``."""
    return f"{temperature_K:g}K"


def phonon_labels(cell) -> List[str]:
    """Special points of the standard band path of ``cell`` (ASE ``bandpath``), Γ left
    out, in path order."""
    labels: List[str] = []
    for label in cell.bandpath(npoints=0).path.replace(",", ""):
        if label != "G" and label not in labels:
            labels.append(label)
    return labels


def expected_names(spec: SystemSpec) -> List[str]:
    """Every property name the families of ``spec`` report, in report order."""
    names: List[str] = []
    families = spec.properties
    if "lattice" in families:
        if spec.structure_file is not None:
            names.append("volume_per_atom")
        else:
            names.append("lattice_constant")
            if spec.lattice == "hcp":
                names.append("c_over_a")
    if "eos" in families:
        names += ["bulk_modulus", "bulk_modulus_derivative"]
    if "elastic" in families:
        names += list(elastic_names(spec.lattice))
    if "vacancy" in families:
        names += ["vacancy_formation_energy", "vacancy_formation_energy_unrelaxed"]
    if "surfaces" in families:
        names += [surface_name(m) for m in spec.surfaces]
    if "phases" in families:
        names += [phase_name(p) for p in spec.phases]
    if "magnetism" in families:
        for lattice, orders in spec.magnetism.orders.items():
            for order in orders:
                names += list(magnetic_names(lattice, order))
    if "phonons" in families:
        names += [f"phonon_frequency_{k}" for k in phonon_labels(primitive_cell(spec).cell)]
    if "dynamics" in families:
        for temperature in spec.temperatures:
            tag = temperature_tag(temperature)
            names += [f"diffusion_coefficient_{tag}", f"rdf_first_peak_{tag}",
                      f"nve_energy_drift_{tag}"]
    return names
