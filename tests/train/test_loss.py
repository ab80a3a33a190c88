import pytest
import torch

from mlip_gnn.data import keys
from mlip_gnn.train.loss import WeightedLoss, elementwise_loss

from train_support import two_frame_batch


@pytest.fixture
def two_frames():
    return two_frame_batch()


def test_terms_match_hand_computation(two_frames):
    pred, ref = two_frames
    loss = WeightedLoss({"energy": 1.0, "forces": 10.0, "stress": 100.0},
                        elementwise_loss("mse"))
    terms = loss.terms(pred, ref)
    # energy: only frame 0, ((3 - 1) / 2)² · weight 2 / 1 labelled frame
    assert terms["energy"].item() == pytest.approx(2.0)
    # forces: atoms 0, 1 weight 2, atom 2 weight 1: (2·1 + 2·4 + 1·9) / (3 · 3 atoms)
    assert terms["forces"].item() == pytest.approx(19.0 / 9.0)
    # stress: only frame 1 (frame 0's 50s are masked): 3 ones / 9 components
    assert terms["stress"].item() == pytest.approx(3.0 / 9.0)
    total = loss(pred, ref)
    assert total.item() == pytest.approx(2.0 + 10 * 19 / 9 + 100 / 3)


def test_huber_and_zero_weight_terms_are_skipped(two_frames):
    pred, ref = two_frames
    loss = WeightedLoss({"energy": 1.0, "forces": 0.0, "stress": 0.0},
                        elementwise_loss("huber", 0.5))
    assert set(loss.terms(pred, ref)) == {"energy"}
    assert not loss.needs_stress
    # residual 1 eV/atom > delta: delta · (|r| - delta / 2) = 0.375, times weight 2
    assert loss(pred, ref).item() == pytest.approx(0.75)


def test_no_labelled_entry_gives_zero(two_frames):
    pred, ref = two_frames
    ref[keys.ENERGY_WEIGHT] = torch.zeros(2, dtype=torch.float64)
    loss = WeightedLoss({"energy": 1.0}, elementwise_loss("mse"))
    assert loss(pred, ref).item() == 0.0


def test_unknown_kind_and_term_list_valid_names():
    with pytest.raises(ValueError, match="huber"):
        elementwise_loss("l1")
    with pytest.raises(ValueError, match="forces"):
        WeightedLoss({"force": 1.0}, elementwise_loss("mse"))


def test_derivative_graph_only_for_force_or_stress_terms():
    from mlip_gnn.train.loss import WeightedLoss, elementwise_loss

    loss = WeightedLoss({"energy": 1.0, "forces": 0.0, "stress": 0.0}, elementwise_loss("mse"))
    assert not loss.needs_derivative_graph
    loss.set_weights({"stress": 0.5})
    assert loss.needs_derivative_graph
    loss.set_weights({"stress": 0.0, "forces": 1.0})
    assert loss.needs_derivative_graph
