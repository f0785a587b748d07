"""Data-parallel training under `torchrun`, with the same command as a single process.

`torchrun --nproc_per_node 4 antiphon train ...` (or `--nnodes`, for several machines)
starts one process per GPU (or per CPU worker); each sets `RANK`, `WORLD_SIZE` and
`LOCAL_RANK`, which is how `join_world` knows it is one of many. Each process draws its
own batches (seeded by its rank) and DistributedDataParallel averages the gradients, so
an epoch sees `WORLD_SIZE` times the data at the same number of steps (the batch size is
per process). Every process scores the validation split (the weights are identical, so
they agree on early stopping without talking); only rank 0 writes checkpoints and logs.

DDP synchronises gradients only through the wrapped module's `forward`, while the frame
families train through `frame_log_loss`: `DistributedModel` routes both through it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
from torch import nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def join_world(device: str) -> World:
    """One process of `torchrun`, or the only one. On CUDA each process takes the GPU of
    its local rank."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World(device=device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device.startswith("cuda")
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if cuda else "gloo")
    if cuda:
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    if rank == 0:
        log.info("data parallel: %d processes (%s)", size, "nccl" if cuda else "gloo")
    return World(rank, size, device)


def is_main_process() -> bool:
    """False in every `torchrun` process but rank 0, which alone scores the best
    checkpoint on the test split, rewrites it and reports (two writers would race)."""
    return int(os.environ.get("RANK", "0")) == 0


def leave_world(world: World) -> None:
    if world.size > 1 and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


class _Forward(nn.Module):
    """`forward(..., method=name)` calls the model's `name` (plain `forward` without)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *args, method: str | None = None, **kwargs):
        return getattr(self.model, method)(*args, **kwargs) if method else self.model(
            *args, **kwargs)


class DistributedModel:
    """What a training task calls (`model(...)`, `model.frame_log_loss(...)`, `.config`),
    with DDP's gradient averaging on every call."""

    def __init__(self, model: nn.Module, world: World) -> None:
        self.module = model
        cuda = world.device.startswith("cuda")
        self._ddp = nn.parallel.DistributedDataParallel(
            _Forward(model), device_ids=[torch.cuda.current_device()] if cuda else None)

    def __call__(self, *args, **kwargs):
        return self._ddp(*args, **kwargs)

    def frame_log_loss(self, *args, **kwargs):
        return self._ddp(*args, method="frame_log_loss", **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.module, name)
