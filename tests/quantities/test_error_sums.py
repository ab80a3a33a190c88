"""The one metrics implementation against a hand computation, and the table's wiring."""

import math

import numpy as np
import pytest
import torch

from mlip_gnn.data import keys
from mlip_gnn.evaluation import FramePrediction, error_report
from mlip_gnn.evaluation.prediction_errors import frame_graphs
from mlip_gnn.quantities import QUANTITIES, ErrorSums, labelled_values, quantity


def _frames():
    """Frame 0: 2 atoms (Cu, Al), every label; frame 1: 1 Cu atom, forces only."""
    f0 = FramePrediction("a", np.array([29, 13]), energy=3.0, energy_ref=1.0,
                         forces=np.array([[1.0, 0, 0], [0, 2.0, 0]]),
                         forces_ref=np.zeros((2, 3)), stress=np.eye(3),
                         stress_ref=np.zeros((3, 3)))
    f1 = FramePrediction("b", np.array([29]), energy=100.0, energy_ref=None,
                         forces=np.array([[0, 0, 3.0]]), forces_ref=np.zeros((1, 3)),
                         stress=None, stress_ref=None)
    return [f0, f1]


def test_error_sums_equal_hand_computation():
    sums = ErrorSums()
    for frame in _frames():
        sums.update(*frame_graphs(frame))
    m = sums.compute(counts=True)
    assert m["energy_mae"] == pytest.approx(1000.0)  # |3 - 1| / 2 atoms; frame 1 unlabelled
    assert m["energy_count"] == 1
    assert m["forces_mae"] == pytest.approx(1000.0 * 6 / 9)  # 9 labelled components
    assert m["forces_rmse"] == pytest.approx(1000.0 * math.sqrt(14 / 9))
    assert m["stress_mae"] == pytest.approx(1000.0 * 3 / 9)  # 9 components of frame 0
    assert m["stress_rmse"] == pytest.approx(1000.0 * math.sqrt(3 / 9))
    assert m["stress_count"] == 9


def test_atom_mask_keeps_one_element_and_drops_frame_quantities():
    sums = ErrorSums()
    for frame in _frames():
        pred, ref = frame_graphs(frame)
        sums.update(pred, ref, torch.as_tensor(frame.atomic_numbers == 29))
    m = sums.compute(counts=True)
    assert set(m) == {"forces_mae", "forces_rmse", "forces_count"}
    assert m["forces_rmse"] == pytest.approx(1000.0 * math.sqrt(10 / 6))  # 1² + 3² over 6


def test_evaluation_report_and_training_metrics_agree():
    from mlip_gnn.train.metrics import MetricAccumulator

    frames = _frames()
    train_metrics = MetricAccumulator()
    for frame in frames:
        train_metrics.update(*frame_graphs(frame))
    overall = error_report(frames)["overall"]
    assert {k: v for k, v in overall.items() if not k.endswith("_count")} == \
        pytest.approx(train_metrics.compute())
    assert error_report(frames)["per_element"]["Al"]["forces_rmse"] == pytest.approx(
        1000.0 * math.sqrt(4 / 3))


def test_labelled_values_are_per_atom_energies():
    pred, ref = frame_graphs(_frames()[0])
    predicted, reference = labelled_values(quantity("energy"), pred, ref)
    assert predicted.tolist() == [1.5] and reference.tolist() == [0.5]


def test_table_keys_and_masks_name_graph_fields():
    names = {v for k, v in vars(keys).items() if k.isupper() and isinstance(v, str)}
    for q in QUANTITIES:
        assert q.key in names and q.mask_key in names
    with pytest.raises(KeyError, match=r"unknown quantity 'energi'.*'energy'"):
        quantity("energi")
