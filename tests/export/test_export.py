"""TorchScript export: parity with the eager model, pair-vector entry point, metadata,
loading without mlip_gnn, the CLI and its errors."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from model_support import R_MAX, SPECIES, graph_of, make_model, random_cluster, random_crystal

import mlip_gnn
from mlip_gnn.cli.main import main
from mlip_gnn.export import export_potential, load_model, read_metadata
from mlip_gnn.model import build_model
from mlip_gnn.modelio import ModelSpec, model_from_checkpoint, save_checkpoint

KWARGS = dict(species=SPECIES, r_max=R_MAX, e0s={13: -1.5, 29: -2.5}, avg_num_neighbors=8.0,
              scale=0.1, shift=0.0, num_layers=2, num_channels=8, max_ell=2, hidden_ell=1,
              correlation=2, num_bessel=6, envelope_p=6, radial_mlp=[16], zbl=False,
              dtype="float64")


def write_run_dir(path, ema_offset=0.0, dtype="float64"):
    """A run directory whose best.pt holds make_model()'s weights (EMA = weights + offset)."""
    model = make_model(dtype=dtype)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    shadow = {k: v + ema_offset if v.is_floating_point() else v for k, v in state.items()}
    path.mkdir(parents=True, exist_ok=True)
    spec = ModelSpec.from_builder_kwargs(dict(KWARGS, seed=0, dtype=dtype))
    save_checkpoint({"model_spec": spec.to_dict(), "model": state,
                     "ema": {"shadow": shadow}, "config": {"seed": 1, "dtype": dtype},
                     "config_hash": "abc123", "version": "0.1.0", "epoch": 3},
                    path / "best.pt")
    return path, model


def inputs(atoms, dtype=torch.float64):
    g = graph_of(atoms)
    return (g["positions"].to(dtype), torch.tensor(atoms.numbers), g["edge_index"],
            g["edge_cell_shift"].to(dtype), g["cell"][0].to(dtype)), g


@pytest.fixture(scope="module", params=[(1, 1), (2, 2), (3, 3)],
                ids=lambda p: f"correlation{p[0]}-max_ell{p[1]}")
def exported(tmp_path_factory, request):
    correlation, max_ell = request.param
    model = make_model(correlation=correlation, max_ell=max_ell, zbl=True)
    path = export_potential(model, tmp_path_factory.mktemp("export") / "model.pt",
                            extra={"config_hash": "abc123"})
    return model, path


@pytest.mark.parametrize("make_atoms", [random_crystal, random_cluster])
def test_exported_equals_eager_float64(exported, make_atoms):
    model, path = exported
    module = torch.jit.load(str(path))
    atoms = make_atoms(seed=5)
    args, graph = inputs(atoms)
    eager = model(graph, compute_forces=True, compute_stress=True)
    out = module(*args, True)
    torch.testing.assert_close(out["energy"], eager["energy"][0], rtol=1e-12, atol=1e-12)
    for key in ("atomic_energies", "forces", "edge_forces"):
        torch.testing.assert_close(out[key], eager[key], rtol=1e-12, atol=1e-12)
    for key in ("stress", "virial"):
        torch.testing.assert_close(out[key], eager[key][0], rtol=1e-12, atol=1e-12)


def test_pair_method_agrees_with_positions_method(exported):
    _, path = exported
    module = torch.jit.load(str(path))
    atoms = random_crystal(seed=6, repeat=(2, 1, 1))
    (pos, z, edge_index, shifts, cell), _ = inputs(atoms)
    out = module(pos, z, edge_index, shifts, cell, True)
    vectors = pos[edge_index[1]] - pos[edge_index[0]] + shifts @ cell
    pair = module.pair_forward(vectors, z, edge_index, None)
    # forces assembled from pair forces: +g on the sender, -g on the receiver
    forces = torch.zeros_like(pos).index_add(0, edge_index[0], pair["edge_forces"])
    forces = forces.index_add(0, edge_index[1], -pair["edge_forces"])
    torch.testing.assert_close(forces, out["forces"], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(pair["energy"], out["energy"], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(pair["virial"], out["virial"], rtol=1e-10, atol=1e-12)
    # only local atoms count: their energies alone
    local = module.pair_forward(vectors, z, edge_index, 3)
    torch.testing.assert_close(local["energy"], out["atomic_energies"][:3].sum())


def test_unknown_atomic_number_is_a_clear_error(exported):
    module = torch.jit.load(str(exported[1]))
    (pos, z, edge_index, shifts, cell), _ = inputs(random_crystal(seed=7))
    z = z.clone()
    z[0] = 26
    with pytest.raises(Exception, match=r"atomic number\(s\) \[26\] not known"):
        module(pos, z, edge_index, shifts, cell, False)


def test_metadata_in_file_and_attributes(exported):
    model, path = exported
    meta = read_metadata(path)
    assert meta["atomic_numbers"] == [13, 29] and meta["symbols"] == ["Al", "Cu"]
    assert meta["r_max"] == R_MAX and meta["dtype"] == "float64"
    assert meta["e0s"] == {"Al": -1.5, "Cu": -2.5}
    assert meta["units"]["energy"] == "eV" and meta["config_hash"] == "abc123"
    assert meta["version"]
    module = torch.jit.load(str(path))
    assert module.atomic_numbers == [13, 29] and module.symbols == ["Al", "Cu"]
    assert module.r_max == R_MAX and module.model_dtype == "float64"
    assert json.loads(module.metadata_json)["e0s"] == meta["e0s"]
    # what an engine with ghost atoms needs (the LAMMPS pair style reads the attributes)
    assert meta["num_layers"] == module.num_layers == len(model.layers) == 2
    assert meta["interaction_range"] == module.interaction_range == 2 * R_MAX
    assert meta["pair_method"] == module.pair_method == "pair_forward"
    assert hasattr(module, module.pair_method)


def test_loads_with_torch_alone(exported, tmp_path):
    """A subprocess in which mlip_gnn and e3nn cannot be imported loads and runs the file."""
    _, path = exported
    atoms = random_crystal(seed=8)
    (pos, z, edge_index, shifts, cell), _ = inputs(atoms)
    torch.save({"args": [pos, z, edge_index, shifts, cell]}, tmp_path / "inputs.pt")
    expected = torch.jit.load(str(path))(pos, z, edge_index, shifts, cell, True)
    repo = str(Path(mlip_gnn.__file__).resolve().parents[1])
    script = textwrap.dedent(f"""
        import sys
        sys.path = [p for p in sys.path if p not in ("", ".", {repo!r})]
        sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
        for name in ("mlip_gnn", "e3nn"):
            sys.modules[name] = None  # any import of them now fails
        try:
            import mlip_gnn  # noqa: F401
        except ImportError:
            pass
        else:
            raise SystemExit("mlip_gnn is importable")
        import torch
        model = torch.jit.load({str(path)!r})
        args = torch.load({str(tmp_path / 'inputs.pt')!r})["args"]
        out = model(*args, True)
        torch.save({{k: v.detach() for k, v in out.items()}}, {str(tmp_path / 'out.pt')!r})
    """)
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path)
    out = torch.load(tmp_path / "out.pt")
    for key in ("energy", "forces", "stress"):
        torch.testing.assert_close(out[key], expected[key], rtol=0, atol=0)


def test_cli_exports_run_dir_and_every_source_agrees(tmp_path, capsys):
    run_dir, _ = write_run_dir(tmp_path / "run", ema_offset=0.01)
    assert main(["export", str(run_dir), "-o", str(tmp_path / "m.pt")]) == 0
    assert "species ['Al', 'Cu']" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt", "run"]  # no temp files
    meta = read_metadata(tmp_path / "m.pt")
    assert meta["ema"] is True and meta["config_hash"] == "abc123"
    assert meta["architecture"]["num_channels"] == 8 and meta["config"]["seed"] == 1
    assert meta["r_max"] == R_MAX and meta["dtype"] == "float64" and "model_kwargs" not in meta
    args, graph = inputs(random_crystal(seed=9))
    eager, spec, _ = model_from_checkpoint(run_dir / "best.pt", use_ema=True)
    assert spec.r_max == R_MAX and spec.architecture["num_channels"] == 8
    ref = eager(graph, compute_forces=True, compute_stress=True)["forces"]
    for source in (tmp_path / "m.pt", run_dir, run_dir / "best.pt"):
        forces = load_model(source)[0](*args, True)["forces"]
        torch.testing.assert_close(forces, ref, rtol=1e-12, atol=1e-12)


def test_raw_weights_and_float32(tmp_path):
    run_dir, model = write_run_dir(tmp_path / "run", ema_offset=0.01)
    module, meta = load_model(run_dir, use_ema=False, dtype="float32")
    assert meta["ema"] is False and meta["dtype"] == "float32"
    args, graph = inputs(random_crystal(seed=9))
    out = module(*args, True)
    assert out["forces"].dtype == torch.float32
    ref = model(graph, compute_forces=True)["forces"]
    torch.testing.assert_close(out["forces"].double(), ref, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_cli_export_float32_no_ema(tmp_path):
    run_dir, model = write_run_dir(tmp_path / "run", ema_offset=0.01)
    out_path = tmp_path / "m32.pt"
    assert main(["export", str(run_dir), "-o", str(out_path), "--no-ema",
                 "--dtype", "float32"]) == 0
    args, graph = inputs(random_crystal(seed=9))
    out = torch.jit.load(str(out_path))(*args, True)
    assert out["forces"].dtype == torch.float32 and read_metadata(out_path)["ema"] is False
    ref = model(graph, compute_forces=True)["forces"]
    torch.testing.assert_close(out["forces"].double(), ref, rtol=1e-4, atol=1e-4)


def test_float64_export_of_a_float32_run_describes_itself_as_float64(tmp_path):
    run_dir, _ = write_run_dir(tmp_path / "run", dtype="float32")
    out_path = tmp_path / "m64.pt"
    assert main(["export", str(run_dir), "-o", str(out_path), "--dtype", "float64"]) == 0
    meta = read_metadata(out_path)
    module = torch.jit.load(str(out_path))
    assert meta["dtype"] == module.model_dtype == "float64"
    assert json.loads(module.metadata_json)["dtype"] == "float64"
    # no second copy of the dtype (or r_max, species, E0s) that could disagree
    assert "model_kwargs" not in meta and not {"dtype", "r_max", "species", "e0s"} & set(
        meta["architecture"])
    assert meta["config"]["dtype"] == "float32"  # the training config, as it was
    args, _ = inputs(random_crystal(seed=9))
    assert module(*args, True)["forces"].dtype == torch.float64


@pytest.mark.parametrize("source,match", [
    ("missing.pt", "model file not found"),
    ("empty_dir", "holds no best.pt or last.pt"),
    ("garbage.pt", "garbage.pt is not a model: neither a TorchScript export nor"),
    ("truncated.pt", "truncated.pt is unreadable (truncated"),
    ("pickled.pt", "pickled.pt is unreadable"),
])
def test_cli_export_bad_source(tmp_path, capsys, source, match):
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    run_dir, _ = write_run_dir(tmp_path / "run")
    data = (run_dir / "best.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    torch.save({"model": object()}, tmp_path / "pickled.pt")  # needs weights_only=False
    out = tmp_path / "out.pt"
    assert main(["export", str(tmp_path / source), "-o", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert match in err and "Traceback" not in err
    # torch's advice to load with weights_only=False (unpickle anything) is never ours
    assert "weights_only" not in err and "weights only" not in err.lower()
    assert not out.exists()


def test_build_model_kwargs_match_conftest_model():
    """KWARGS above must describe make_model()'s architecture."""
    a, b = build_model(**KWARGS, seed=0), make_model()
    assert [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()]
    np.testing.assert_allclose(a.e0.numpy(), b.e0.numpy())


def test_export_of_a_newer_format_is_refused_before_loading(tmp_path):
    from mlip_gnn.export import FORMAT_VERSION, ModelFileError

    path = export_potential(make_model(num_layers=1), tmp_path / "new.pt",
                            extra={"format_version": FORMAT_VERSION + 1, "version": "9.0"})
    with pytest.raises(ModelFileError, match=rf"new.pt was exported in format "
                       rf"{FORMAT_VERSION + 1} by mlip_gnn 9.0.*up to {FORMAT_VERSION}"):
        load_model(path)


def test_float64_export_of_a_float32_model_has_exact_constants(tmp_path):
    """The Clebsch–Gordan, product and Bessel constants of a float32 model are rounded;
    exporting it in float64 rebuilds them, so the export is as equivariant as a native
    float64 model and equals one with the same (float32-representable) weights."""
    from mlip_gnn.export import deploy

    kwargs = dict(KWARGS, max_ell=3, correlation=3)
    spec = ModelSpec.from_builder_kwargs(dict(kwargs, dtype="float32"))
    model32 = build_model(**dict(kwargs, dtype="float32"), seed=0)
    deployed, _ = deploy(model32, dtype="float64", spec=spec)
    native = build_model(**dict(kwargs, dtype="float64"), seed=0)
    exact = {k: v.clone() for k, v in native.state_dict().items() if k in ("e0", "scale")}
    native.load_state_dict({**model32.state_dict(), **exact})
    for (name, ours), (_, ref) in zip(deployed.model.named_buffers(), native.named_buffers()):
        assert ours.dtype == ref.dtype == torch.float64 or not ours.is_floating_point()
        assert torch.equal(ours, ref), name
