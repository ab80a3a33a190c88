"""Inference never loads the training stack or the config, not even lazily."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "format1_best.pt"


def _loaded_after(code: str) -> list:
    script = textwrap.dedent(f"""
        import json, sys
        {code}
        print(json.dumps(sorted(m for m in sys.modules
                     if m.split(".")[:2] in (["mlip_gnn", "train"], ["mlip_gnn", "config"]))))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", ["mlip_gnn.calculators", "mlip_gnn.export",
                                    "mlip_gnn.model", "mlip_gnn.modelio"])
def test_importing_inference_loads_neither_train_nor_config(module):
    assert _loaded_after(f"import {module}") == []


def test_loading_a_checkpoint_in_the_calculator_loads_neither_train_nor_config():
    code = f"""
        from ase.build import bulk
        from mlip_gnn.calculators import MLIPCalculator
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
        atoms.calc = MLIPCalculator({str(FIXTURE)!r})
        atoms.get_forces()
        from mlip_gnn.export import export_model, load_model
        load_model({str(FIXTURE)!r})
    """
    assert _loaded_after(code) == []


def test_cli_export_does_not_load_the_trainer(tmp_path):
    code = f"""
        from mlip_gnn.cli.main import main
        assert main(["export", {str(FIXTURE)!r}, "-o", {str(tmp_path / 'm.pt')!r}]) == 0
    """
    assert _loaded_after(code) == []
