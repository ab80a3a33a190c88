"""One device rule: ``auto`` (CUDA when available) is the default of every command that
runs a model, of the calculator and of training; ``--device`` overrides it; a bad value
is an error that names it; each command says which device it uses."""

import argparse

import pytest
import torch

from mlip_gnn.cli.main import SUBCOMMANDS, build_parser, main
from mlip_gnn.modelio import DeviceError, describe_device, resolve_device

from cli_support import config_writer, write_frames

NO_GPU = not torch.cuda.is_available()
#: the commands that run a model; export's --device is where the file's tensors are
#: stored (a file exported on a GPU machine must still load on a CPU-only one), not where
#: anything runs, so it stays cpu
RUNS_A_MODEL = ["evaluate", "md", "predict", "validate", "uncertainty fit", "search"]


def _subparser(parser: argparse.ArgumentParser, words):
    for word in words:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[word]
    return parser


def _device_default(words):
    parser = _subparser(build_parser(), words.split())
    return next(a for a in parser._actions if "--device" in a.option_strings).default


def _commands_with_device(parser, prefix=()):
    """Every (sub)command of ``parser`` that has a --device option, as words."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands_with_device(sub, (*prefix, name))
        elif "--device" in action.option_strings:
            found.append(" ".join(prefix))
    return found


def test_the_list_of_commands_with_a_device_is_complete():
    assert sorted(_commands_with_device(build_parser())) == sorted(
        [*RUNS_A_MODEL, "train", "export"])
    assert set(SUBCOMMANDS) >= {c.split()[0] for c in RUNS_A_MODEL}


@pytest.mark.parametrize("command", RUNS_A_MODEL)
def test_every_command_that_runs_a_model_defaults_to_auto(command):
    assert _device_default(command) == "auto"


def test_train_and_the_library_default_to_auto():
    import inspect

    from mlip_gnn.active_learning.schema import ALConfig
    from mlip_gnn.calculators import Committee, MLIPCalculator
    from mlip_gnn.config import Config
    from mlip_gnn.inference import Predictor, load_member

    assert Config.__dataclass_fields__["device"].default == "auto"
    assert ALConfig.__dataclass_fields__["device"].default == "auto"
    assert _device_default("train") is None  # None: the config's device (auto)
    for function in (MLIPCalculator, Committee, Predictor, load_member):
        assert inspect.signature(function).parameters["device"].default == "auto", function


def test_auto_is_cuda_when_torch_sees_a_gpu_else_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert describe_device("auto", resolve_device("auto")) == \
        "cpu (auto: no CUDA device visible to torch)"
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device("auto", local_rank=3) == torch.device("cuda", 1)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(DeviceError, match=r"'cuda:2'.*2 CUDA device"):
        resolve_device("cuda:2")


@pytest.mark.parametrize("bad", ["gpu", "tpu", "cuda:x", "CPU", "", "cuda:-1"])
def test_a_bad_device_name_is_an_error_naming_it(bad):
    with pytest.raises(DeviceError) as info:
        resolve_device(bad, what="--device")
    assert f"--device: got {bad!r}" in str(info.value)
    assert "'auto'" in str(info.value) and "'cuda:N'" in str(info.value)


def test_cuda_without_a_gpu_is_an_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("cuda", "cuda:0"):
        with pytest.raises(DeviceError, match="sees no CUDA device"):
            resolve_device(name)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("device")
    data = write_frames(root / "cu.xyz", n_frames=4)
    config = config_writer(data, root)(train={"max_epochs": 1})
    assert main(["train", str(config)]) == 0
    assert main(["export", str(root / "run"), "-o", str(root / "m.pt")]) == 0
    return root / "m.pt", data


@pytest.mark.skipif(not NO_GPU, reason="the default resolves to CUDA on this machine")
def test_commands_say_the_device_and_default_to_cpu_without_a_gpu(model, tmp_path, capsys):
    export, data = model
    capsys.readouterr()
    assert main(["evaluate", str(export), str(data), "-o", str(tmp_path / "a")]) == 0
    assert "device: cpu (auto: no CUDA device visible to torch)" in capsys.readouterr().err
    assert main(["predict", str(export), str(data), "-o", str(tmp_path / "p.xyz"),
                 "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "device: cpu\n" in err and "auto" not in err


@pytest.mark.parametrize("command", ["evaluate", "predict", "md"])
def test_a_bad_device_option_exits_2_naming_it_and_writes_nothing(model, tmp_path, capsys,
                                                                   command):
    export, data = model
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main([command, str(export), str(data), "-o", str(out), "--device", "gpu"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --device: got 'gpu'; expected 'auto'" in err
    assert "Traceback" not in err and not out.exists()


@pytest.mark.skipif(not NO_GPU, reason="needs a machine without a GPU")
def test_cuda_option_without_a_gpu_exits_2(model, tmp_path, capsys):
    export, data = model
    with pytest.raises(SystemExit) as exit_info:
        main(["md", str(export), str(data), "-o", str(tmp_path / "md"), "--device", "cuda"])
    assert exit_info.value.code == 2
    assert "--device: got 'cuda' but torch sees no CUDA device" in " ".join(
        capsys.readouterr().err.split())


@pytest.mark.skipif(not NO_GPU, reason="the default resolves to CUDA on this machine")
def test_the_calculator_defaults_to_auto_and_resolves_it(model):
    from ase.io import read

    from mlip_gnn.calculators import MLIPCalculator

    export, data = model
    atoms = read(data)
    atoms.calc = MLIPCalculator(str(export))
    assert atoms.calc.committee.device == torch.device("cpu")
    reference = atoms.get_potential_energy()
    atoms.calc = MLIPCalculator(str(export), device="cpu")
    assert atoms.get_potential_energy() == reference
    with pytest.raises(DeviceError, match="device: got 'gpu'"):
        MLIPCalculator(str(export), device="gpu")
