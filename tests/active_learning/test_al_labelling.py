"""Labellers: an ASE calculator by import path, and an external command."""

import sys
import textwrap

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from mlip_gnn.active_learning import CalculatorLabeller, CommandLabeller, LabelError
from mlip_gnn.active_learning.labelling import make_labeller
from al_support import tiny_al_config


@pytest.fixture
def atoms():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    atoms.rattle(0.05, seed=1)
    atoms.info["al_id"] = "x"
    return atoms


def _emt(atoms):
    ref = atoms.copy()
    ref.calc = EMT()
    return ref.get_potential_energy(), ref.get_forces(), ref.get_stress(voigt=False)


def test_calculator_labeller_gives_the_calculators_energy_forces_and_stress(atoms, tmp_path):
    out = CalculatorLabeller("ase.calculators.emt:EMT").label(atoms, tmp_path)
    energy, forces, stress = _emt(atoms)
    assert out.get_potential_energy() == pytest.approx(energy, abs=1e-12)
    np.testing.assert_allclose(out.get_forces(), forces, atol=1e-12)
    np.testing.assert_allclose(out.get_stress(voigt=False), stress, atol=1e-12)
    assert out.info["al_id"] == "x" and out is not atoms and atoms.calc is None


def test_calculator_given_with_a_dot_and_with_kwargs(atoms, tmp_path):
    labeller = CalculatorLabeller("ase.calculators.lj.LennardJones",
                                  {"sigma": 2.3, "epsilon": 0.4, "rc": 5.0})
    out = labeller.label(atoms, tmp_path)
    from ase.calculators.lj import LennardJones

    ref = atoms.copy()
    ref.calc = LennardJones(sigma=2.3, epsilon=0.4, rc=5.0)
    assert out.get_potential_energy() == pytest.approx(ref.get_potential_energy())


def test_bad_import_path_and_bad_kwargs_are_reported_before_any_work():
    with pytest.raises(LabelError, match="label.calculator.*no_such_module"):
        CalculatorLabeller("no_such_module:Calc")
    with pytest.raises(LabelError, match="label.kwargs"):
        CalculatorLabeller(f"{__name__}:Strict", {"no_such_option": 1})


class Strict(EMT):
    """A calculator whose constructor names its arguments."""

    def __init__(self, cutoff=6.0):
        super().__init__()
        self.cutoff = cutoff


class Failing(EMT):
    def calculate(self, *args, **kwargs):
        raise RuntimeError("SCF did not converge")


def test_a_calculator_failing_on_a_structure_is_a_label_error(atoms, tmp_path):
    labeller = CalculatorLabeller(f"{__name__}:Failing")
    with pytest.raises(LabelError, match="SCF did not converge"):
        labeller.label(atoms, tmp_path)


_EMT_SCRIPT = textwrap.dedent("""
    import sys
    from ase.io import read, write
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator
    atoms = read(sys.argv[1])
    atoms.calc = EMT()
    results = dict(energy=atoms.get_potential_energy(), forces=atoms.get_forces())
    atoms.calc = SinglePointCalculator(atoms, **results)
    if len(sys.argv) > 3:
        atoms.positions[0, 0] += float(sys.argv[3])
    write(sys.argv[2], atoms, format="extxyz")
""")


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "emt_label.py"
    path.write_text(_EMT_SCRIPT)
    return path


def test_command_labeller_reads_back_what_the_command_wrote(atoms, tmp_path, script):
    work = tmp_path / "work"
    work.mkdir()
    labeller = CommandLabeller(f"{sys.executable} {script} {{input}} {{output}}")
    out = labeller.label(atoms, work)
    energy, forces, _ = _emt(atoms)
    assert out.get_potential_energy() == pytest.approx(energy, abs=1e-6)
    np.testing.assert_allclose(out.get_forces(), forces, atol=1e-6)
    assert (work / "input.xyz").is_file() and (work / "output.xyz").is_file()


def test_command_failures_are_label_errors(atoms, tmp_path, script):
    cases = {
        f"{sys.executable} -c 'import sys; sys.exit(\"bad input deck\")'": "status 1.*bad input",
        "true": "no readable",
        f"{sys.executable} {script} {{input}} {{output}} 0.5": "positions differ",
        "sleep 5": "timed out",
    }
    for i, (command, message) in enumerate(cases.items()):
        work = tmp_path / str(i)
        work.mkdir()
        timeout = 0.5 if command.startswith("sleep") else None
        with pytest.raises(LabelError, match=message):
            CommandLabeller(command, timeout_s=timeout).label(atoms, work)


def test_make_labeller_follows_the_config(tmp_path):
    cfg = tiny_al_config(tmp_path, label={"command": "run_dft {input} {output}",
                                          "timeout_s": 60})
    labeller = make_labeller(cfg.label)
    assert isinstance(labeller, CommandLabeller) and labeller.timeout_s == 60
    cfg = tiny_al_config(tmp_path, label={"calculator": "ase.calculators.lj:LennardJones",
                                          "kwargs": {"sigma": 2.0}})
    labeller = make_labeller(cfg.label)
    assert isinstance(labeller, CalculatorLabeller) and labeller.kwargs == {"sigma": 2.0}
