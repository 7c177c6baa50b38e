"""Building datasets and data loaders from option sections."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch.utils.data import DataLoader, Dataset

from ..errors import OptionError
from .registry import DATASET_REGISTRY
from .sampler import EnlargedSampler


def build_dataset(opt: Mapping[str, Any]) -> Dataset:
    """Instantiate ``DATASET_REGISTRY[opt['type']]`` with the (validated) option section."""
    try:
        cls = DATASET_REGISTRY.get(opt["type"])
    except KeyError as exc:
        raise OptionError(f"datasets.{opt.get('phase', '?')}.type: {exc.args[0]}") from None
    return cls(opt)


def _worker_init(_: int) -> None:
    # each worker computes one sample at a time; more intra-op threads would fight the trainer
    torch.set_num_threads(1)


def build_dataloader(
    dataset: Dataset,
    opt: Mapping[str, Any],
    *,
    sampler: EnlargedSampler | None = None,
    seed: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A training loader (``sampler`` given: fixed batch size, last partial batch dropped) or a
    one-image-at-a-time validation loader."""
    if opt.get("phase", "train") == "train":
        workers = int(opt.get("num_worker_per_gpu", 0))
        generator = torch.Generator().manual_seed(seed)  # keeps DataLoader from consuming the global RNG
        return DataLoader(
            dataset,
            batch_size=int(opt["batch_size_per_gpu"]),
            sampler=sampler,
            num_workers=workers,
            drop_last=True,
            pin_memory=pin_memory,
            persistent_workers=bool(opt.get("persistent_workers", True)) and workers > 0,
            worker_init_fn=_worker_init if workers > 0 else None,
            generator=generator,
            prefetch_factor=2 if workers > 0 else None,
        )
    return DataLoader(dataset, batch_size=1, shuffle=False, num_workers=0)
