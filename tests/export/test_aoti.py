"""The ahead-of-time compiled export (torch.export + AOTInductor, a .pt2 package)."""

import numpy as np
import pytest

from mlip_gnn.calculators import MLIPCalculator
from mlip_gnn.cli.main import main
from mlip_gnn.export import AOTIUnavailableError, ModelFileError, export_model, is_aoti
from mlip_gnn.export.aoti import export_aoti
from model_support import random_cluster, random_crystal
from test_export import write_run_dir


def test_unknown_format_and_a_wrong_suffix_are_refused_before_compiling(tmp_path):
    run_dir, _ = write_run_dir(tmp_path / "run")
    with pytest.raises(ModelFileError, match=r"format: got 'onnx'"):
        export_model(run_dir, tmp_path / "m.onnx", format="onnx")
    with pytest.raises(AOTIUnavailableError, match=r"must end in \.pt2"):
        export_aoti(None, {}, tmp_path / "m.pt")
    export_model(run_dir, tmp_path / "m.pt")
    assert not is_aoti(tmp_path / "m.pt")


@pytest.mark.slow  # compiling takes minutes
def test_aoti_package_equals_eager_through_the_calculator(tmp_path, capsys):
    """Two elements and ZBL (the masked many-body path), float64; structures of other
    sizes than the one it was traced with (dynamic atoms and edges)."""
    run_dir, model = write_run_dir(tmp_path / "run")
    package = tmp_path / "m.pt2"
    assert main(["export", str(run_dir), "-o", str(package), "--format", "aoti"]) == 0
    assert "species ['Al', 'Cu']" in capsys.readouterr().out
    assert is_aoti(package)
    for atoms in (random_crystal(seed=3, repeat=(2, 1, 1)), random_crystal(seed=4),
                  random_cluster(seed=5)):
        eager, compiled = atoms.copy(), atoms.copy()
        eager.calc = MLIPCalculator(run_dir)
        compiled.calc = MLIPCalculator(package)
        e = eager.get_potential_energy()
        assert compiled.get_potential_energy() == pytest.approx(e, rel=1e-12, abs=1e-10)
        scale = np.abs(eager.get_forces()).max()
        np.testing.assert_allclose(compiled.get_forces(), eager.get_forces(), rtol=0,
                                   atol=1e-10 * scale)
        np.testing.assert_allclose(compiled.get_potential_energies(),
                                   eager.get_potential_energies(), rtol=0, atol=1e-10)
        if atoms.pbc.all():
            np.testing.assert_allclose(compiled.get_stress(), eager.get_stress(), rtol=0,
                                       atol=1e-10 * np.abs(eager.get_stress()).max())
    gold = random_cluster(seed=6)
    gold.numbers[0] = 79
    gold.calc = MLIPCalculator(package)
    with pytest.raises(Exception, match=r"\[.Au.\] not known to the model"):
        gold.get_potential_energy()
