"""The magnetism family: FM / AFM orders per phase, relaxed at fixed moments."""

import pytest

from mlip_gnn.data.spin_lattice import SpinLatticeCalculator, cubic_cell, ordered_moments
from mlip_gnn.validation import SystemSpecError, expected_names, parse_system
from mlip_gnn.validation.runner import run_validation


def fe_system(**changes):
    data = {"name": "Fe spin", "elements": ["Fe"], "lattice": "bcc", "lattice_constant": 2.87,
            "properties": ["lattice", "magnetism"],
            "magnetism": {"moment": 2.2, "orders": {"bcc": ["fm", "afm"], "fcc": ["fm"]}},
            "reference": {"calculator": "mlip_gnn.data.spin_lattice.SpinLatticeCalculator"},
            "settings": {"relax": {"fmax": 1e-4}}}
    data.update(changes)
    return data


def test_names_follow_the_orders():
    spec = parse_system(fe_system())
    assert expected_names(spec)[1:] == [
        "magnetic_energy_bcc_fm", "magnetic_volume_bcc_fm", "magnetic_energy_bcc_afm",
        "magnetic_volume_bcc_afm", "magnetic_energy_fcc_fm", "magnetic_volume_fcc_fm"]
    assert "magnetism" not in parse_system(fe_system(magnetism=None)).properties


@pytest.mark.parametrize("magnetism, match", [
    ({"orders": {"hcp": ["fm"]}}, "lattice 'hcp'"),
    ({"orders": {"bcc": ["afn"]}}, "did you mean 'afm'"),
    ({"orders": {"bcc": []}}, "expected a list of orders"),
    ({"moment": -1.0, "orders": {"bcc": ["fm"]}}, "moment"),
    ({"momnet": 2.0}, "did you mean 'moment'"),
])
def test_bad_magnetism_sections_name_the_key(magnetism, match):
    with pytest.raises(SystemSpecError, match=match):
        parse_system(fe_system(magnetism=magnetism))


def test_reference_against_itself_gives_the_orders_and_the_magnetovolume_effect():
    spec = parse_system(fe_system())
    result = run_validation(spec, [SpinLatticeCalculator()], ["ref"], SpinLatticeCalculator())
    values = {e.name: e.model for e in result.entries}
    assert all(e.error == pytest.approx(0.0, abs=1e-9) for e in result.entries)
    assert values["magnetic_energy_bcc_fm"] == 0.0
    # by hand: unrelaxed cubic cells at the relaxed FM volume put AFM above FM
    atoms = cubic_cell("bcc", (2 * values["magnetic_volume_bcc_fm"]) ** (1 / 3))
    atoms.calc = SpinLatticeCalculator()
    energies = []
    for order in ("fm", "afm"):
        atoms.set_initial_magnetic_moments(ordered_moments(atoms, order, 2.2))
        energies.append(atoms.get_potential_energy() / len(atoms))
    assert 1000 * (energies[1] - energies[0]) >= values["magnetic_energy_bcc_afm"] > 50.0
    # J2 < 0: the ferromagnet swells
    assert values["magnetic_volume_bcc_fm"] > values["magnetic_volume_bcc_afm"] + 0.2
    assert all(check.ok for checks in result.checks.values() for check in checks)
