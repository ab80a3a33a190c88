"""Distributed data parallel: launcher detection (torchrun, SLURM), process group, helpers.

Single process is the default and needs none of this: every helper is a no-op when no
process group is initialised. Only rank 0 writes logs and checkpoints (:func:`is_main`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import inspect
import os
import re
import traceback
from typing import Any, Callable, Iterator, Mapping, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from mlip_gnn import modelio
from mlip_gnn.config import ConfigError

__all__ = ["DistInfo", "detect", "resolve_device", "tf32", "init_process_group", "shutdown",
           "release_failed_run", "is_main", "rank", "world_size", "all_reduce_sum",
           "all_reduce_max", "any_rank", "barrier", "broadcast_object", "on_main", "wrap_model",
           "unwrap_model", "first_slurm_host", "per_rank_batch_size"]

DEFAULT_MASTER_PORT = 29500
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class DistInfo:
    """Where this process stands: rank, local rank, world size, the rendezvous address and port, and
    the launcher that started it (none, torchrun or slurm)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    master_addr: str | None = None  # None: torchrun's env:// rendezvous
    master_port: int = DEFAULT_MASTER_PORT
    launcher: str = "none"  # "none" | "torchrun" | "slurm"

    @property
    def is_distributed(self) -> bool:
        """True with more than one process."""
        return self.world_size > 1


def first_slurm_host(nodelist: str) -> str:
    """First host of a SLURM node list without calling scontrol: ``gpu[07-09,12],cpu1`` →
    ``gpu07``."""
    match = re.match(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist.strip())
    if match is None:
        raise ValueError(f"cannot parse SLURM node list {nodelist!r}")
    prefix, ranges = match.groups()
    if ranges is None:
        return prefix
    return prefix + ranges.split(",")[0].split("-")[0]


def detect(env: Mapping[str, str] | None = None) -> DistInfo:
    """Rank and world size from torchrun (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``) or SLURM
    (``SLURM_PROCID``, ``SLURM_LOCALID``, ``SLURM_NTASKS``); single process otherwise."""
    env = os.environ if env is None else env
    if "RANK" in env and "WORLD_SIZE" in env:
        return DistInfo(int(env["RANK"]), int(env.get("LOCAL_RANK", 0)), int(env["WORLD_SIZE"]),
                        launcher="torchrun")
    if int(env.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in env:
        addr = (env.get("MASTER_ADDR") or env.get("SLURM_LAUNCH_NODE_IPADDR")
                or first_slurm_host(env.get("SLURM_JOB_NODELIST", env.get("SLURM_NODELIST",
                                                                          "localhost"))))
        # a port derived from the job id keeps two jobs sharing a node apart
        default_port = 20000 + int(env["SLURM_JOB_ID"]) % 20000 if "SLURM_JOB_ID" in env \
            else DEFAULT_MASTER_PORT
        return DistInfo(int(env["SLURM_PROCID"]), int(env.get("SLURM_LOCALID", 0)),
                        int(env["SLURM_NTASKS"]), addr,
                        int(env.get("MASTER_PORT", default_port)), launcher="slurm")
    return DistInfo()


def init_process_group(info: DistInfo, device: torch.device) -> None:
    """NCCL on GPU, Gloo on CPU; nothing for a single process."""
    if not info.is_distributed or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    init_method = ("env://" if info.master_addr is None
                   else f"tcp://{info.master_addr}:{info.master_port}")
    dist.init_process_group(backend, init_method=init_method, rank=info.rank,
                            world_size=info.world_size)


def shutdown() -> None:
    """End the process group, if one was started."""
    if dist.is_initialized():
        dist.destroy_process_group()


def release_failed_run(error: BaseException) -> None:
    """Free what the traceback of ``error`` keeps alive (the DDP model and its reducer), so
    that it goes before :func:`shutdown` destroys the process group: a reducer that
    outlives its group can hang or abort the process at exit."""
    if dist.is_initialized():
        traceback.clear_frames(error.__traceback__)
        gc.collect()


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    """Number of processes (1 without a process group)."""
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    """True on rank 0, the one that writes logs and checkpoints."""
    return rank() == 0


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over ranks (a copy; the input is left alone)."""
    tensor = tensor.clone()
    if dist.is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_max(tensor: torch.Tensor) -> torch.Tensor:
    """Element-wise maximum of ``tensor`` over the ranks (a copy)."""
    tensor = tensor.clone()
    if dist.is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor


def any_rank(flag: bool) -> bool:
    """True on every rank if ``flag`` is true on at least one: decisions that change the
    sequence of collectives (skip a step, stop, raise) must be identical on all ranks."""
    if not dist.is_initialized():
        return bool(flag)
    return bool(all_reduce_max(torch.tensor([float(flag)], device=_comm_device()))[0] > 0)


def barrier() -> None:
    """Wait for every rank (nothing without a process group)."""
    if dist.is_initialized():
        dist.barrier()


def _comm_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def broadcast_object(obj: T, src: int = 0) -> T:
    """Rank ``src``'s ``obj`` (picklable) on every rank; ``obj`` itself without a group."""
    if not dist.is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src, device=_comm_device())
    return box[0]


def on_main(fn: Callable[[], T]) -> T | None:
    """``fn()`` on rank 0 only (writes); if it raises, every rank raises the same exception,
    so that no rank is left waiting in a collective for a rank that has given up. Returns
    ``fn``'s result on rank 0 and None elsewhere."""
    result: Any = None
    error: BaseException | None = None
    if is_main():
        try:
            result = fn()
        except Exception as exc:  # shared below, re-raised on every rank
            error = exc
    if any_rank(error is not None):
        shared = broadcast_object(None if error is None else _picklable(error))
        raise error if error is not None else shared
    return result


def _picklable(error: BaseException) -> BaseException:
    """A copy of ``error`` that survives pickling (no traceback); a RuntimeError with its
    text when the exception type cannot be rebuilt from its arguments."""
    import pickle

    try:
        return pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__} on rank 0: {error}")


def per_rank_batch_size(batch_size: int, world: int, field: str) -> int:
    """One rank's share of a *global* batch of ``batch_size`` frames. Raises ValueError
    unless ``world`` divides ``batch_size``: unequal shares would weight ranks differently
    and make the optimisation depend on the number of processes."""
    if batch_size % world:
        raise ValueError(f"{field}: got {batch_size}, which {world} processes cannot share "
                         f"equally; the batch size is global (summed over processes), so "
                         f"use a multiple of {world}")
    return batch_size // world


def _match_param_strides(param: nn.Parameter) -> Callable[[torch.Tensor], torch.Tensor]:
    def hook(grad: torch.Tensor) -> torch.Tensor:
        if grad.stride() == param.stride():
            return grad
        return torch.empty_like(param, memory_format=torch.preserve_format).copy_(grad)
    return hook


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    """DDP around ``model`` when a process group is up, else ``model`` itself.

    Every parameter gets a gradient in every step (checked for all model variants, with
    and without stress), so ``find_unused_parameters`` stays off: it costs a graph
    traversal per step. A gradient whose strides differ from its parameter's (the
    ``[1, hidden]`` weight of the last layer's readout ``Linear(hidden, 1)`` leaves the
    double backward with strides ``(1, 1)``) is copied into the parameter's layout by a
    hook; otherwise DDP warns "grad strides do not match bucket view strides" and takes a
    slower copy path.
    """
    if not dist.is_initialized():
        return model
    for param in model.parameters():
        if param.requires_grad:
            param.register_hook(_match_param_strides(param))
    device_ids = [device.index] if device.type == "cuda" else None
    # the model's buffers are constants (bases, Clebsch-Gordan coefficients, E0s): no
    # need to broadcast them before every step (the keyword's name changed in torch 2.13)
    ddp = nn.parallel.DistributedDataParallel
    no_sync = ("forward_sync_buffers" if "forward_sync_buffers"
               in inspect.signature(ddp.__init__).parameters else "broadcast_buffers")
    return ddp(model, device_ids=device_ids, find_unused_parameters=False,
               **{no_sync: False})


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper, else ``model``."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """The config's ``device`` on this machine (:func:`mlip_gnn.modelio.resolve_device`:
    ``auto`` is this local rank's GPU when CUDA is available, else the CPU); a GPU torch
    cannot see is a :class:`ConfigError` on the field ``device``."""
    try:
        return modelio.resolve_device(name, local_rank)
    except modelio.DeviceError as exc:
        raise ConfigError(str(exc), field="device") from None


@contextlib.contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """TF32 matmuls / convolutions on or off for the run; the previous flags come back."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
