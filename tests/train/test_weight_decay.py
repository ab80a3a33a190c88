"""Weight decay that spares named parts of the model (optim.no_weight_decay): which
parameters decay, fine-tuning groups, the checkpointed groups and resume."""

import shutil

import pytest
import torch

from mlip_gnn.config import ConfigError
from mlip_gnn.errors import MlipGnnError
from mlip_gnn.model import build_model
from mlip_gnn.modelio import load_checkpoint
from mlip_gnn.train import finetune, train
from mlip_gnn.train.optim import build_optimizer, spare_from_decay
from train_support import config_maker, write_tiny_cu

TINY_MODEL = {"num_layers": 2, "num_channels": 4, "max_ell": 1, "hidden_ell": 1,
              "correlation": 2, "num_bessel": 4, "radial_mlp": [8]}
SPARED = ["embedding", "radial", "readouts"]


def _model():
    torch.manual_seed(0)
    return build_model(species=[29], r_max=4.0, **TINY_MODEL).double()


def test_spared_parts_do_not_decay_and_the_others_do():
    model = _model()
    spared = set(finetune.part_names(model, SPARED))
    groups = spare_from_decay(model, spared)
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())  # each exactly once
    lr, decay = 0.1, 0.5
    optimizer = build_optimizer("adamw", groups, lr=lr, weight_decay=decay)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)  # Adam's step is 0: only the decay moves weights
    optimizer.step()
    names = dict(model.named_parameters())
    assert spared and set(names) - spared
    for name, param in names.items():
        factor = 1.0 if name in spared else 1.0 - lr * decay
        torch.testing.assert_close(param.detach(), factor * before[name], rtol=1e-12,
                                   atol=0.0, msg=name)


def test_finetune_groups_split_and_keep_their_lr_factor():
    model = _model()
    params = list(model.parameters())
    groups = [{"params": params[:3], "name": "fresh", "lr_factor": 1.0},
              {"params": params[3:], "name": "pretrained", "lr_factor": 0.3}]
    spared = finetune.part_names(model, ["embedding", "readouts"])
    split = spare_from_decay(model, spared, groups)
    by_name = {g["name"]: g for g in split}
    assert set(by_name) >= {"fresh", "fresh/no_decay", "pretrained", "pretrained/no_decay"}
    assert by_name["pretrained/no_decay"]["lr_factor"] == 0.3
    assert by_name["pretrained/no_decay"]["weight_decay"] == 0.0
    assert "weight_decay" not in by_name["pretrained"]  # the optimiser's default applies
    named = dict(model.named_parameters())
    spared_ids = {id(named[n]) for n in spared if n in named}  # part_names has buffers too
    assert all(id(p) in spared_ids for g in split if g["name"].endswith("/no_decay")
               for p in g["params"])


def test_unknown_part_is_a_config_error(tmp_path):
    make = config_maker(write_tiny_cu(tmp_path / "cu.xyz"), tmp_path)
    with pytest.raises(ConfigError, match=r"optim.no_weight_decay\[1\].*'radail'.*'radial'"):
        make(optim={"weight_decay": 0.1, "no_weight_decay": ["embedding", "radail"]})
    cfg = make(model=TINY_MODEL, optim={"weight_decay": 0.1, "no_weight_decay": ["layers.5"]},
               train={"max_epochs": 1})
    with pytest.raises(ConfigError, match="optim.no_weight_decay: part 'layers.5' names no"):
        train(cfg)


@pytest.fixture(scope="module")
def decayed_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("decay")
    make = config_maker(write_tiny_cu(tmp / "cu.xyz", n_frames=6), tmp)

    def make_run(name, **optim):
        return make(name, model=TINY_MODEL, train={"max_epochs": optim.pop("epochs", 1)},
                    optim={"optimizer": "adamw", "weight_decay": 0.1, **optim})

    run_dir = train(make_run("run", no_weight_decay=SPARED)).run_dir
    return make_run, run_dir


def test_checkpoint_holds_the_two_groups_and_resumes(decayed_run, tmp_path):
    make_run, run_dir = decayed_run
    groups = load_checkpoint(run_dir / "last.pt")["optimizer"]["param_groups"]
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    model = _model()
    n_spared = len([n for n, _ in model.named_parameters()
                    if n in set(finetune.part_names(model, SPARED))])
    assert len(groups[1]["params"]) == n_spared
    copy = shutil.copytree(run_dir, tmp_path / "copy")
    resumed = train(make_run("copy", no_weight_decay=SPARED, epochs=2), resume=str(copy))
    assert load_checkpoint(resumed.run_dir / "last.pt")["loop"]["epoch"] == 2


@pytest.mark.parametrize("optim", [{"no_weight_decay": ["readouts"]},
                                   {"no_weight_decay": []},
                                   {"no_weight_decay": SPARED, "weight_decay": 0.0}])
def test_resume_with_other_groups_is_refused_and_keeps_the_run(decayed_run, tmp_path, optim):
    make_run, run_dir = decayed_run
    copy = shutil.copytree(run_dir, tmp_path / "copy")
    before = (copy / "last.pt").read_bytes()
    with pytest.raises(MlipGnnError, match="cannot resume.*optim.no_weight_decay"):
        train(make_run("copy", epochs=2, **optim), resume=str(copy))
    assert (copy / "last.pt").read_bytes() == before
