"""Model I/O: the model spec, checkpoint files, and a model rebuilt from a checkpoint.

Below training, export and the calculators, above ``model`` and ``data``: loading a model
never imports the trainer or the config.

>>> from mlip_gnn.modelio import model_from_checkpoint  # doctest: +SKIP
>>> model, spec, state = model_from_checkpoint("runs/cu/best.pt")  # doctest: +SKIP
>>> spec.r_max, spec.dtype, spec.species  # doctest: +SKIP
(5.0, 'float32', (29,))
"""

from mlip_gnn.modelio.checkpoint import (CHECKPOINT_FORMAT, CheckpointError, load_checkpoint,
                                         save_checkpoint, state_digest)
from mlip_gnn.modelio.device import (DEVICE_NAMES, DeviceError, describe_device,
                                     resolve_device)
from mlip_gnn.modelio.loading import (CHECKPOINT_NAMES, find_checkpoint, model_from_checkpoint,
                                      spec_from_state)
from mlip_gnn.modelio.spec import ModelFactory, ModelSpec, ModelSpecError, build_from_spec

__all__ = ["CHECKPOINT_FORMAT", "CheckpointError", "load_checkpoint", "save_checkpoint",
           "state_digest", "model_from_checkpoint", "find_checkpoint", "CHECKPOINT_NAMES",
           "spec_from_state", "ModelFactory",
           "ModelSpec", "ModelSpecError", "build_from_spec",
           "DEVICE_NAMES", "DeviceError", "resolve_device", "describe_device"]
