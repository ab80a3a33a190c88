"""The drivers on ASE's EMT reproduce EMT's own values for fcc Cu (ASE 3.29 EMT(),
asap_cutoff=False), computed independently with the settings of the issue: E(a) minimised
in the primitive cell; Birch–Murnaghan over ±1 % linear strain; a 4-atom cubic cell at
±0.5 % strain; a 108-atom vacancy cell relaxed with BFGS to fmax 1e-4; a 2×2×9 (111) slab
with 10 Å of vacuum on each side."""

import numpy as np
import pytest
from ase.build import bulk, fcc111
from ase.calculators.emt import EMT
from validation_support import cu_system

from mlip_gnn.validation import parse_system
from mlip_gnn.validation.defects import measure_vacancy
from mlip_gnn.validation.elastic import measure_elastic
from mlip_gnn.validation.phases import measure_phases
from mlip_gnn.validation.lattice import measure_eos, measure_lattice
from mlip_gnn.validation.structures import relax_bulk
from mlip_gnn.validation.surfaces import make_slab, measure_surfaces

RTOL = 1e-3
EMT_CU = {"lattice_constant": 3.589826, "bulk_modulus": 134.48, "C11": 172.58,
          "C12": 115.44, "C44": 89.92, "vacancy_formation_energy": 1.2242,
          "vacancy_formation_energy_unrelaxed": 1.2384, "surface_energy_111": 1.0437}


@pytest.fixture(scope="module")
def cu_bulk():
    return relax_bulk(parse_system(cu_system()), EMT())


def test_lattice_constant(cu_bulk):
    values = measure_lattice(cu_bulk).values
    assert values["lattice_constant"] == pytest.approx(EMT_CU["lattice_constant"], rel=1e-6)
    assert cu_bulk.converged


def test_bulk_modulus_and_its_elastic_cross_check(cu_bulk):
    eos = measure_eos(cu_bulk, EMT())
    assert eos.values["bulk_modulus"] == pytest.approx(EMT_CU["bulk_modulus"], rel=RTOL)
    assert 3.0 < eos.values["bulk_modulus_derivative"] < 6.0
    elastic = measure_elastic(cu_bulk, EMT())
    b_voigt = elastic.curves["elastic"]["bulk_modulus_voigt"]
    assert b_voigt == pytest.approx(eos.values["bulk_modulus"], rel=RTOL)


def test_elastic_constants_with_engineering_shear(cu_bulk):
    result = measure_elastic(cu_bulk, EMT())
    for name in ("C11", "C12", "C44"):
        assert result.values[name] == pytest.approx(EMT_CU[name], rel=RTOL), name
    assert all(check.ok for check in result.checks)  # Born stable, cubic symmetry
    tensor = result.curves["elastic"]["tensor"]
    assert np.allclose(tensor, tensor.T, atol=1e-6)
    assert abs(tensor[0, 3]) < 1e-6 and abs(tensor[3, 4]) < 1e-6


def test_vacancy_formation_energy_in_108_atoms(cu_bulk):
    result = measure_vacancy(cu_bulk, EMT())
    assert "108-atom" in result.checks[0].message
    for name in ("vacancy_formation_energy", "vacancy_formation_energy_unrelaxed"):
        assert result.values[name] == pytest.approx(EMT_CU[name], rel=RTOL), name


def test_surface_111_on_a_2x2x9_slab(cu_bulk):
    slab = make_slab(cu_bulk.conventional(), (1, 1, 1), 9, 10.0)
    same = fcc111("Cu", size=(2, 2, 9), a=cu_bulk.a, vacuum=10.0)
    assert len(slab) == len(same) == 36
    slab.calc, same.calc = EMT(), EMT()
    assert slab.get_potential_energy() == pytest.approx(same.get_potential_energy(), abs=1e-8)
    result = measure_surfaces(cu_bulk, EMT())
    assert result.values["surface_energy_111"] == pytest.approx(
        EMT_CU["surface_energy_111"], rel=RTOL)


def test_a_phase_below_the_named_lattice_is_reported_negative(cu_bulk):
    # EMT puts hcp Cu slightly below fcc: the difference keeps its sign
    result = measure_phases(cu_bulk, EMT())
    hcp = bulk("Cu", "hcp", a=2.55)
    hcp.calc = EMT()
    from mlip_gnn.validation.structures import relax_cell

    relax_cell(hcp, 1e-5, 500)
    expected = 1000 * (hcp.get_potential_energy() / 2 - cu_bulk.energy_per_atom)
    assert expected < 0
    assert result.values["phase_energy_hcp"] == pytest.approx(expected, abs=1e-3)
    assert any("BELOW" in c.message for c in result.checks)


def test_a_collapsing_phase_is_reported_not_hung(cu_bulk):
    # Lennard-Jones with a negative epsilon attracts at short range: nothing stops a
    # relaxation from shrinking the cell, as with a model without short-range repulsion
    from ase.calculators.lj import LennardJones

    from mlip_gnn.validation.runner import measure_all

    attractive = LennardJones(epsilon=-0.01, sigma=3.0, rc=6.0, smooth=True)
    result = measure_phases(cu_bulk, attractive)
    assert np.isnan(result.values["phase_energy_hcp"])
    assert any("COLLAPSED" in c.message and not c.ok for c in result.checks)
    from mlip_gnn.validation.structures import RelaxationCollapse

    with pytest.raises(RelaxationCollapse, match="volume per atom"):
        measure_all(cu_bulk.spec, attractive, families=["lattice"])


def test_hcp_gives_five_constants_with_hexagonal_symmetry():
    spec = parse_system(cu_system(lattice="hcp", lattice_constant=2.55, phases=["fcc"]))
    hcp = relax_bulk(spec, EMT())
    assert 1.55 < measure_lattice(hcp).values["c_over_a"] < 1.70
    result = measure_elastic(hcp, EMT())
    assert set(result.values) == {"C11", "C12", "C13", "C33", "C44"}
    assert all(check.ok for check in result.checks), [c.message for c in result.checks]
    tensor = result.curves["elastic"]["tensor"]
    # C66 = (C11 - C12)/2 holds for a hexagonal crystal: a real test of the engineering shear
    assert tensor[5, 5] == pytest.approx((tensor[0, 0] - tensor[0, 1]) / 2, rel=1e-3)
    b_eos = measure_eos(hcp, EMT()).values["bulk_modulus"]
    # (C11 + C22 + C33 + 2 (C12 + C13 + C23)) / 9 is the Voigt bound, above B for hcp
    assert 0.99 * b_eos < result.curves["elastic"]["bulk_modulus_voigt"] < 1.05 * b_eos
