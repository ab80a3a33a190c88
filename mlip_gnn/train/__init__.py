"""Training: losses, metrics, optimisation, checkpoints, monitoring and the loop.

>>> from mlip_gnn.config import load_config  # doctest: +SKIP
>>> result = train(load_config("config.yaml"))  # doctest: +SKIP
"""

from mlip_gnn.train.checkpoint import CheckpointManager, RunDirError
from mlip_gnn.train.loss import WeightedLoss, elementwise_loss
from mlip_gnn.train.metrics import MetricAccumulator
from mlip_gnn.train.run import TrainResult, train
from mlip_gnn.train.trainer import Trainer, TrainingDiverged

__all__ = ["train", "TrainResult", "Trainer", "TrainingDiverged", "RunDirError",
           "CheckpointManager", "WeightedLoss", "elementwise_loss", "MetricAccumulator"]
