import math

import pytest
import torch

from mlip_gnn.data import keys
from mlip_gnn.train.metrics import MetricAccumulator

from train_support import two_frame_batch


@pytest.fixture
def two_frames():
    return two_frame_batch()


def test_metrics_match_hand_computation(two_frames):
    pred, ref = two_frames
    acc = MetricAccumulator()
    acc.update(pred, ref, torch.tensor(2.5, dtype=torch.float64))
    m = acc.compute()
    assert m["energy_mae"] == pytest.approx(1000.0)  # |3 - 1| / 2 atoms, frame 1 masked
    assert m["energy_rmse"] == pytest.approx(1000.0)
    assert m["forces_mae"] == pytest.approx(1000.0 * 6 / 9)  # weights do not enter
    assert m["forces_rmse"] == pytest.approx(1000.0 * math.sqrt(14 / 9))
    assert m["stress_mae"] == pytest.approx(1000.0 * 3 / 9)  # frame 0 unlabelled
    assert m["stress_rmse"] == pytest.approx(1000.0 * math.sqrt(3 / 9))
    assert m["loss"] == pytest.approx(2.5)

def _frame(pred, ref, g):
    """Frame ``g`` of the two-frame batch as its own one-frame batch."""
    atoms = ref[keys.BATCH] == g
    out_ref = {k: (v[atoms] if v.shape[0] == 3 else v[g:g + 1]) for k, v in ref.items()
               if k != keys.BATCH}
    out_ref[keys.BATCH] = torch.zeros(int(atoms.sum()), dtype=torch.long)
    out_pred = {k: (v[atoms] if k == keys.FORCES else v[g:g + 1]) for k, v in pred.items()}
    return out_pred, out_ref


def test_sums_over_shards_equal_the_whole(two_frames):
    """What an all-reduce over two ranks does: add the sums."""
    pred, ref = two_frames
    whole = MetricAccumulator()
    whole.update(pred, ref)
    shards = []
    for g in range(2):
        acc = MetricAccumulator()
        acc.update(*_frame(pred, ref, g))
        shards.append(acc)
    combined = shards[0].reduce(lambda t: t + shards[1].sums)
    assert combined.compute() == pytest.approx(whole.compute(), rel=1e-12)


def test_state_round_trip(two_frames):
    pred, ref = two_frames
    acc = MetricAccumulator()
    acc.update(pred, ref)
    other = MetricAccumulator()
    other.load_state_dict(acc.state_dict())
    assert other.compute() == acc.compute()
