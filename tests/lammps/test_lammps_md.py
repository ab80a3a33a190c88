"""Molecular dynamics in LAMMPS with pair_style mlip_gnn: NVE conserves energy with the
O(dt²) error of velocity Verlet, and NPT conserves its extended energy (which needs a
correct virial) while the box moves."""

import numpy as np
import pytest
from ase.build import bulk
from lammps_support import data_file, requires_plugin, run_lammps

from mlip_gnn.export import export_potential
from mlip_gnn.model import build_model

pytestmark = [requires_plugin, pytest.mark.slow]
NUM_ATOMS = 32


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """An untrained 2-layer Cu model (ZBL keeps atoms apart) and fcc Cu, 32 atoms."""
    path = tmp_path_factory.mktemp("md")
    # scale 0.1: an untrained model's forces reach 100-200 eV/Å on a cell rattled by 0.1 Å,
    # so at 600 K the trajectory (and whether 0.5 fs conserves energy) hung on the CPU's
    # rounding; a tenth of that is a potential an MD time step is made for
    model = build_model(species=[29], r_max=4.0, e0s={29: -1.0}, avg_num_neighbors=12.0,
                        num_layers=2, num_channels=8, max_ell=2, hidden_ell=1, correlation=2,
                        num_bessel=6, envelope_p=6, radial_mlp=[16], zbl=True, dtype="float64",
                        seed=0, scale=0.1)
    export_potential(model, path / "model.pt")
    (path / "data.lmp").write_text(data_file(bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2),
                                             ["Cu"]))
    return path


def thermo(workdir, fix, timestep, steps, columns):
    script = f"""
units metal
atom_style atomic
read_data data.lmp
pair_style mlip_gnn
pair_coeff * * model.pt Cu
velocity all create 600 1 loop geom
timestep {timestep}
fix 1 all {fix}
thermo_style custom step {' '.join(columns)}
thermo_modify format float %.15g
thermo 2
run {steps}
"""
    out = run_lammps(workdir, script).stdout.splitlines()
    start = next(k for k, line in enumerate(out) if line.split()[:1] == ["Step"])
    rows = [line.split() for line in out[start + 1:start + 2 + steps // 2]]
    return np.array(rows, dtype=float)[:, 1:]


def test_nve_conserves_energy_with_verlet_error(workdir):
    """0.1 ps at 600 K: the energy error stays below 2e-4 eV/atom at dt = 0.5 fs and shrinks
    about 4x when dt halves, as it must for forces that are -dE/dx."""
    spread = {}
    for dt in (0.001, 0.0005):
        rows = thermo(workdir, "nve", dt, round(0.1 / dt), ["etotal", "pe"])
        spread[dt] = np.max(np.abs(rows[:, 0] - rows[0, 0])) / NUM_ATOMS
        assert np.ptp(rows[:, 1]) / NUM_ATOMS > 20 * spread[dt]  # energy does move around
    assert spread[0.0005] < 2e-4
    assert 3.0 < spread[0.001] / spread[0.0005] < 5.0


def test_npt_runs_and_conserves_its_extended_energy(workdir):
    """Nosé–Hoover NPT (target: the initial pressure of this untrained model; barostat time
    1000 steps, as the LAMMPS manual advises): the box moves and the extended energy stays
    within 5e-4 eV/atom (measured: 2.3e-4) while the total energy of the atoms changes by
    ten times more."""
    bar = thermo(workdir, "nve", 0.0005, 2, ["press"])[0, 0]
    rows = thermo(workdir, f"npt temp 300 300 0.05 iso {bar:.6g} {bar:.6g} 0.5", 0.0005, 200,
                  ["etotal", "econserve", "vol", "press"])
    etotal, econserve, volume = rows[:, 0], rows[:, 1], rows[:, 2]
    assert np.ptp(volume) / volume[0] > 1e-3
    drift = np.max(np.abs(econserve - econserve[0])) / NUM_ATOMS
    assert drift < 5e-4
    assert np.ptp(etotal) / NUM_ATOMS > 10 * drift
