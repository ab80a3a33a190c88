"""Where a model runs: the one rule that every command, the calculator and training share.

``auto`` (the default everywhere) is the GPU when torch sees one (CUDA), else the CPU;
``cpu``, ``cuda`` and ``cuda:N`` name a device. A name that is none of these, or a GPU
that this machine's torch cannot see, is a :class:`DeviceError` that names the value.

>>> resolve_device("auto")  # doctest: +SKIP
device(type='cpu')
>>> describe_device("auto", resolve_device("auto"))  # doctest: +SKIP
'cpu (auto: no CUDA device visible to torch)'
"""

from __future__ import annotations

import re

import torch

from mlip_gnn.errors import MlipGnnError

__all__ = ["DEVICE_NAMES", "DeviceError", "resolve_device", "describe_device"]

#: the device names a user may give, as a regular expression and in words
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")
DEVICE_NAMES = "'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N'"


class DeviceError(MlipGnnError):
    """Raised when a device name is not one of :data:`DEVICE_NAMES`, or names a GPU that
    torch on this machine cannot see."""


def resolve_device(name: str | torch.device = "auto", local_rank: int = 0,
                   what: str = "device") -> torch.device:
    """The torch device ``name`` stands for on this machine.

    ``auto``: CUDA when torch sees a GPU, else the CPU. ``cuda`` without an index is the
    GPU of this process's ``local_rank`` (modulo the visible GPUs: all GPUs of a node
    visible, or one per task). ``what`` names the setting in error messages (``--device``,
    ``device``). A :class:`torch.device` is checked the same way.
    """
    text = str(name).strip() if name is not None else ""
    if not DEVICE_PATTERN.fullmatch(text):
        raise DeviceError(f"{what}: got {str(name)!r}; expected {DEVICE_NAMES}")
    if text == "auto":
        text = "cuda" if torch.cuda.is_available() else "cpu"
    if text == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise DeviceError(f"{what}: got {text!r} but torch sees no CUDA device on this "
                          f"machine (torch {torch.__version__}, CUDA build: "
                          f"{torch.version.cuda or 'no'}); use 'cpu' or 'auto'")
    count = torch.cuda.device_count()
    if text == "cuda":
        return torch.device("cuda", local_rank % max(count, 1))
    index = int(text.partition(":")[2])
    if index >= count:
        raise DeviceError(f"{what}: got {text!r} but torch sees {count} CUDA device(s) "
                          f"(cuda:0 to cuda:{count - 1})")
    return torch.device("cuda", index)


def describe_device(asked: str | torch.device, device: torch.device) -> str:
    """One line for logs: the device used, the GPU's name, and why when ``auto`` chose."""
    notes = [torch.cuda.get_device_name(device)] if device.type == "cuda" else []
    if str(asked) == "auto":
        notes.append("auto: " + ("a CUDA device is visible" if device.type == "cuda"
                                 else "no CUDA device visible to torch"))
    return str(device) + (f" ({'; '.join(notes)})" if notes else "")
