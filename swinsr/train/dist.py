"""Process-group setup for ``--launcher pytorch`` (torchrun) and rank helpers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.distributed as dist

from ..errors import OptionError


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(launcher: str, dist_params: Mapping[str, Any], local_rank: int | None = None, use_cuda: bool = True) -> DistInfo:
    """Join the process group described by torchrun's environment (``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``); ``launcher='none'`` is a single process.

    The backend is ``dist_params.backend`` (default nccl) on CUDA and gloo without a GPU.
    """
    if launcher == "none":
        return DistInfo()
    if launcher != "pytorch":
        raise OptionError(f"--launcher: {launcher!r} is not supported; allowed: none, pytorch")
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise OptionError("--launcher pytorch: RANK/WORLD_SIZE are not set; start with torchrun --nproc_per_node=N -m swinsr.train ...")
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", local_rank if local_rank is not None else 0))
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(dist_params.get("port", 29500)))
    cuda = use_cuda and torch.cuda.is_available()
    backend = dist_params.get("backend", "nccl") if cuda else "gloo"
    if cuda:
        torch.cuda.set_device(local % torch.cuda.device_count())
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistInfo(rank, world, local)


def barrier(info: DistInfo) -> None:
    if info.distributed and dist.is_initialized():
        dist.barrier()


def broadcast_object(obj: Any, info: DistInfo) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not info.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
