"""Inference never loads the training stack or the config, not even lazily."""

import json
import subprocess
import sys
import textwrap

import pytest



@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """best.pt of a small Cu model, written with the model I/O layer."""
    from mlip_gnn.model import build_model
    from mlip_gnn.modelio import ModelSpec, save_checkpoint

    kwargs = dict(species=[29], r_max=3.0, e0s={29: 0.1}, num_layers=1, num_channels=4,
                  max_ell=2, correlation=2, radial_mlp=[8], dtype="float32")
    model = build_model(**kwargs, seed=0)
    spec = ModelSpec.from_builder_kwargs(kwargs)
    path = tmp_path_factory.mktemp("layering") / "best.pt"
    save_checkpoint({"model_spec": spec.to_dict(), "model": model.state_dict(), "epoch": 1},
                    path)
    return path


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
                                    "mlip_gnn.model", "mlip_gnn.modelio",
                                    "mlip_gnn.inference", "mlip_gnn.uncertainty",
                                    "mlip_gnn.evaluation", "mlip_gnn.quantities",
                                    "mlip_gnn.md", "mlip_gnn.validation"])
def test_importing_inference_loads_neither_train_nor_config(module):
    assert _loaded_after(f"import {module}") == []


def test_loading_a_checkpoint_in_the_calculator_loads_neither_train_nor_config(checkpoint):
    code = f"""
        from ase.build import bulk
        from mlip_gnn.calculators import MLIPCalculator
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
        atoms.calc = MLIPCalculator({str(checkpoint)!r})
        atoms.get_forces()
        from mlip_gnn.export import export_model, load_model
        load_model({str(checkpoint)!r})
    """
    assert _loaded_after(code) == []


def test_cli_export_does_not_load_the_trainer(tmp_path, checkpoint):
    code = f"""
        from mlip_gnn.cli.main import main
        assert main(["export", {str(checkpoint)!r}, "-o", {str(tmp_path / 'm.pt')!r}]) == 0
    """
    assert _loaded_after(code) == []
