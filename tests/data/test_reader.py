"""Reading labelled structures: key maps, units and errors that say what and where."""

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from mlip_gnn.data import DataError, KeyMap, read_configurations


def labelled(n=3, seed=0):
    rng = np.random.default_rng(seed)
    atoms = Atoms("Cu" * n, positions=rng.uniform(0, 5, (n, 3)), cell=[6, 6, 6], pbc=True)
    return atoms, rng


def test_ase_results_and_custom_keys(tmp_path):
    atoms, rng = labelled()
    forces = rng.normal(size=(3, 3))
    stress6 = rng.normal(size=6)
    atoms.calc = SinglePointCalculator(atoms, energy=-3.0, forces=forces, stress=stress6)
    other = atoms.copy()
    other.info.update(REF_energy=-7.5, config_type="md", config_weight=2.0)
    other.arrays["REF_force"] = forces * 2
    write(tmp_path / "a.xyz", [atoms])
    write(tmp_path / "b.xyz", [other])
    conf = read_configurations(tmp_path / "a.xyz")[0]
    assert conf.energy == -3.0
    np.testing.assert_allclose(conf.forces, forces)
    xx, yy, zz, yz, xz, xy = stress6
    np.testing.assert_allclose(conf.stress, [[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    conf = read_configurations(tmp_path / "b.xyz", KeyMap(energy="REF_energy",
                                                          forces="REF_force"))[0]
    assert conf.energy == -7.5 and conf.config_type == "md" and conf.weight == 2.0
    np.testing.assert_allclose(conf.forces, forces * 2)


def test_virial_converted_to_stress(tmp_path):
    atoms, _ = labelled()
    virial = np.arange(9.0).reshape(3, 3)
    virial = virial + virial.T
    atoms.info["virial"] = virial
    write(tmp_path / "v.xyz", [atoms])
    conf = read_configurations(tmp_path / "v.xyz")[0]
    np.testing.assert_allclose(conf.stress, -virial / 216.0)


def test_molecule_in_dummy_box_is_not_periodic(tmp_path):
    atoms, _ = labelled()
    atoms.pbc = False
    write(tmp_path / "m.xyz", [atoms])
    assert not read_configurations(tmp_path / "m.xyz")[0].pbc.any()


@pytest.mark.parametrize("content,message", [
    ("", "file is empty"),
    ("this is not a structure file\n", "cannot read structures"),
])
def test_unreadable_files(tmp_path, content, message):
    path = tmp_path / "bad.xyz"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_configurations(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_configurations(tmp_path / "nope.xyz")


def test_missing_energy_names_file_frame_and_key(tmp_path):
    good, _ = labelled()
    good.calc = SinglePointCalculator(good, energy=-1.0, forces=np.zeros((3, 3)))
    bad, _ = labelled(seed=1)
    write(tmp_path / "d.xyz", [good, bad])
    with pytest.raises(DataError, match=r"d.xyz, frame 1: missing energy .*'energy'"):
        read_configurations(tmp_path / "d.xyz", require_energy=True)


@pytest.mark.parametrize("field", ["positions", "energy", "forces"])
def test_nan_is_reported(tmp_path, field):
    atoms, _ = labelled()
    forces = np.zeros((3, 3))
    energy = -1.0
    if field == "positions":
        atoms.positions[1, 0] = np.nan
    elif field == "energy":
        energy = np.nan
    else:
        forces[2, 1] = np.inf
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
    write(tmp_path / "n.xyz", [atoms])
    with pytest.raises(DataError, match=f"frame 0.*{field}.*(NaN|Inf)"):
        read_configurations(tmp_path / "n.xyz")


def test_zero_volume_cell(tmp_path):
    atoms, _ = labelled()
    atoms.cell[2] = atoms.cell[0]
    write(tmp_path / "z.xyz", [atoms])
    with pytest.raises(DataError, match="zero volume"):
        read_configurations(tmp_path / "z.xyz")
