"""Distributed data parallel: launcher detection (torchrun, SLURM), process group, helpers.

Single process is the default and needs none of this: every helper is a no-op when no
process group is initialised. Only rank 0 writes logs and checkpoints (:func:`is_main`).
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Mapping, Optional

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["DistInfo", "detect", "init_process_group", "shutdown", "is_main", "rank",
           "world_size", "all_reduce_sum", "all_reduce_max", "barrier", "wrap_model",
           "unwrap_model", "first_slurm_host"]

DEFAULT_MASTER_PORT = 29500


@dataclasses.dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    master_addr: Optional[str] = None  # None: torchrun's env:// rendezvous
    master_port: int = DEFAULT_MASTER_PORT
    launcher: str = "none"  # "none" | "torchrun" | "slurm"

    @property
    def is_distributed(self) -> bool:
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


def detect(env: Optional[Mapping[str, str]] = None) -> DistInfo:
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
    if dist.is_initialized():
        dist.destroy_process_group()


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over ranks (a copy; the input is left alone)."""
    tensor = tensor.clone()
    if dist.is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_max(tensor: torch.Tensor) -> torch.Tensor:
    tensor = tensor.clone()
    if dist.is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    """DDP around ``model`` when a process group is up, else ``model`` itself."""
    if not dist.is_initialized():
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    # find_unused_parameters: a parameter may get no gradient in a step (e.g. a species
    # absent from the batch, or a loss term with weight 0)
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids,
                                               find_unused_parameters=True)


def unwrap_model(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
