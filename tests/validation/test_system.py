"""SYSTEM.yaml: what is accepted, and errors that name the key."""

import pytest
import yaml
from validation_support import cu_system

from mlip_gnn.errors import MlipGnnError
from mlip_gnn.validation import SystemSpecError, expected_names, load_system, parse_system


def _error(data) -> str:
    with pytest.raises(SystemSpecError) as info:
        parse_system(data)
    assert isinstance(info.value, MlipGnnError)
    return str(info.value)


def test_defaults_are_the_fast_set_and_names_follow_the_lattice():
    spec = parse_system(cu_system())
    assert "dynamics" not in spec.properties
    names = expected_names(spec)
    assert names[:5] == ["lattice_constant", "bulk_modulus", "bulk_modulus_derivative", "C11",
                         "C12"]
    assert "surface_energy_111" in names and "phase_energy_hcp" in names
    assert "phonon_frequency_X" in names and "phonon_frequency_L" in names
    hcp = parse_system(cu_system(lattice="hcp", phases=["fcc"]))
    assert {"c_over_a", "C13", "C33", "phase_energy_fcc"} <= set(expected_names(hcp))
    dyn = parse_system(cu_system(properties=["lattice", "dynamics"]))
    assert expected_names(dyn) == ["lattice_constant", "diffusion_coefficient_1500K",
                                   "rdf_first_peak_1500K", "nve_energy_drift_1500K"]


def test_unknown_property_names_the_key_and_suggests():
    message = _error(cu_system(properties=["lattice", "elastik"]))
    assert "properties[1]" in message and "'elastik'" in message and "'elastic'" in message


def test_unknown_element_names_the_key():
    message = _error(cu_system(elements=["Xx"]))
    assert "elements[0]" in message and "'Xx'" in message


def test_reference_calculator_that_cannot_be_imported():
    message = _error(cu_system(reference={"calculator": "ase.calculators.nosuch.Calc"}))
    assert "reference.calculator" in message and "ase.calculators.nosuch" in message
    message = _error(cu_system(reference={"calculator": "ase.calculators.emt.EMTT"}))
    assert "reference.calculator" in message and "'EMT'" in message


def test_reference_table_entries_are_checked():
    good = {"values": {"lattice_constant": 3.6, "C11": {"value": 170, "source": "paper"}},
            "source": "Materials Project"}
    table = parse_system(cu_system(reference=good)).reference.table
    assert table["lattice_constant"].source == "Materials Project"
    assert table["C11"].value == 170.0 and table["C11"].source == "paper"
    message = _error(cu_system(reference={"values": {"C14": 1.0}, "source": "x"}))
    assert "reference.values.C14" in message
    message = _error(cu_system(reference={"values": {"C11": "big"}, "source": "x"}))
    assert "reference.values.C11" in message
    message = _error(cu_system(reference={"values": {"C11": 170.0}}))
    assert "reference.values.C11" in message and "source" in message
    message = _error(cu_system(reference={"values": {"C11": 1.0}, "source": "x",
                                          "calculator": "ase.calculators.emt.EMT"}))
    assert "both" in message


def test_unknown_keys_anywhere_are_errors():
    assert "'lattice_constnt'" in _error(cu_system(lattice_constnt=3.6))
    message = _error(cu_system(settings={"elastic": {"strian": 0.01}}))
    assert "settings.elastic" in message and "'strain'" in message
    message = _error(cu_system(settings={"vacancy": {"fmax": "small"}}))
    assert "settings.vacancy.fmax" in message
    assert "lattice" in _error(cu_system(lattice="fccc"))
    assert "surfaces[0]" in _error(cu_system(surfaces=[[1, 1]]))
    assert "phases[0]" in _error(cu_system(phases=["bct"]))
    assert "temperatures" in _error(cu_system(properties=["dynamics"], temperatures=[]))
    message = _error(cu_system(settings={"dynamics": {"equilibration": "nvt"}}))
    assert "settings.dynamics.equilibration" in message


def test_load_system_names_the_file(tmp_path):
    path = tmp_path / "system.yaml"
    path.write_text(yaml.safe_dump(cu_system(elements=["Qq"])))
    with pytest.raises(SystemSpecError, match=r"system\.yaml: elements\[0\]"):
        load_system(path)
    structure = tmp_path / "cu.xyz"
    from ase.build import bulk
    from ase.io import write

    write(structure, bulk("Cu", "fcc", a=3.6))
    path.write_text(yaml.safe_dump(cu_system(lattice="cu.xyz", phases=[])))
    spec = load_system(path)
    assert spec.structure_file == structure
    assert expected_names(spec)[0] == "volume_per_atom"


@pytest.mark.parametrize("name", ["cu_emt.yaml", "si_dft.yaml", "mo_dft.yaml", "fe_spin.yaml"])
def test_shipped_systems_load(name):
    from pathlib import Path

    spec = load_system(Path(__file__).parents[2] / "configs" / "validate" / name)
    assert spec.properties
