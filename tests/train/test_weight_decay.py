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
from mlip_gnn.train.optim import build_optimizer, set_weight_decay, spare_from_decay
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


def test_set_weight_decay_leaves_the_spared_groups_alone():
    model = _model()
    spared = finetune.part_names(model, SPARED)
    optimizer = build_optimizer("adamw", spare_from_decay(model, spared), lr=0.1,
                                weight_decay=0.5)
    set_weight_decay(optimizer, 0.02)
    assert {g["name"]: g["weight_decay"] for g in optimizer.param_groups} == {
        "all": 0.02, "all/no_decay": 0.0}


@pytest.mark.parametrize("start, stage, expected", [(0.1, 0.0, [0.1, 0.0]),
                                                     (0.0, 0.3, [0.0, 0.3])])
def test_a_loss_stage_sets_the_decay_of_the_decayed_group(tmp_path, start, stage, expected):
    """Epoch 0 runs with optim.weight_decay, epoch 1 with the stage's; the spared group
    stays at 0 and a resume across the stage lands where the straight run does (a constant
    lr: a cosine over the run would differ once the run is made longer)."""
    make = config_maker(write_tiny_cu(tmp_path / "cu.xyz", n_frames=6), tmp_path)

    def make_run(name, epochs):
        return make(name, model=TINY_MODEL, train={"max_epochs": epochs},
                    optim={"optimizer": "adamw", "weight_decay": start,
                           "no_weight_decay": SPARED, "scheduler": "none"},
                    loss={"stages": [{"epoch": 1, "weight_decay": stage}]})

    def decays(run_dir):
        groups = load_checkpoint(run_dir / "last.pt")["optimizer"]["param_groups"]
        return [g["weight_decay"] for g in groups]

    first = train(make_run("first", 1)).run_dir
    assert decays(first) == [expected[0], 0.0]
    straight = train(make_run("straight", 2)).run_dir
    assert decays(straight) == [expected[1], 0.0]
    resumed = train(make_run("first", 2), resume=str(first)).run_dir
    assert decays(resumed) == [expected[1], 0.0]
    torch.testing.assert_close(load_checkpoint(resumed / "last.pt")["model"],
                               load_checkpoint(straight / "last.pt")["model"],
                               rtol=0, atol=0)
