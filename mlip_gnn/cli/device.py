"""``--device`` of the commands that run a model: one default (``auto``) and one rule.

The value is resolved when the arguments are parsed (torch is imported then, not for
``--help``), and the command says on stderr which device it runs on; a bad value is an
argparse error (exit status 2) that names ``--device`` and what is allowed.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["DEVICE_HELP", "device_argument"]

DEVICE_HELP = ("auto (default: CUDA when available), cpu, cuda or cuda:N; the command "
               "prints the device it uses")


def device_argument(text: str) -> str:
    """``--device TEXT`` as the device it stands for here (``cpu``, ``cuda:0``, ...); says
    which on stderr. Raises :class:`argparse.ArgumentTypeError` for a bad value."""
    from mlip_gnn.modelio import DeviceError, describe_device, resolve_device

    try:
        device = resolve_device(text, what="--device")
    except DeviceError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--device: ")) from None
    print(f"device: {describe_device(text, device)}", file=sys.stderr)
    return str(device)
