"""LR-only test data: BasicSR's ``SingleImageDataset`` (real-world or ImageNet-LR inputs, no GT).

HAT's and DRCT's official test option files (e.g. ``HAT_GAN_Real_SRx4.yml``) point it at a folder of
low-resolution images; the test script then only saves the restored outputs, since there is no
ground truth to score against.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from ..errors import OptionError
from ..train.schema import Field
from .base import OptionDataset
from .io import list_images, read_meta_info, to_tensor
from .registry import DATASET_REGISTRY
from .store import ImageStore


def _channel_stats(value: Any, key: str, channels: int) -> torch.Tensor | None:
    """``mean`` / ``std`` as a ``(C, 1, 1)`` tensor (one number is used for every channel)."""
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        raise OptionError(f"{key}: expected numbers, got {value!r}") from None
    if len(numbers) == 1:
        numbers *= channels
    if len(numbers) != channels:
        raise OptionError(f"{key}: {len(numbers)} values for {channels}-channel images; give one per channel")
    if key.endswith("std") and any(n == 0 for n in numbers):
        raise OptionError(f"{key}: a standard deviation of 0 would divide by zero")
    return torch.tensor(numbers, dtype=torch.float32).view(channels, 1, 1)


@DATASET_REGISTRY.register()
class SingleImageDataset(OptionDataset):
    """LQ images only, read whole: ``{'lq': (C, H, W) float in [0, 1], 'lq_path': str}``.

    The images are those directly inside ``dataroot_lq`` (not its sub-folders, as BasicSR's
    folder scan), or the ones listed in ``meta_info_file`` (first token of each line, relative to
    ``dataroot_lq``). With ``mean`` / ``std`` the tensor is normalised per channel,
    ``(lq - mean) / std``, as BasicSR does (either may be given alone). Only the ``disk``
    ``io_backend`` is supported. There is no ``'gt'``: the test script saves the outputs and skips
    metrics, and validation during training refuses this dataset (:attr:`HAS_GT` is ``False``).
    """

    HAS_GT = False
    FIELDS = {
        "dataroot_lq": Field((str,), path="dir"),
        "meta_info_file": Field((str,), None, nullable=True, path="file"),
        "mean": Field((list, float), None, nullable=True, help="per-channel mean subtracted from the LQ"),
        "std": Field((list, float), None, nullable=True, help="per-channel std the LQ is divided by"),
    }

    def __init__(self, opt: Mapping[str, Any]):
        super().__init__(opt)
        where = f"datasets.{self.opt.get('name') or self.phase}"
        backend = (self.opt.get("io_backend") or {}).get("type", "disk")
        if backend != "disk":
            raise OptionError(f"{where}.io_backend.type: {backend!r} is not supported by SingleImageDataset; use 'disk' (a folder of image files)")
        root = self.opt["dataroot_lq"]
        if self.opt.get("meta_info_file"):
            paths = read_meta_info(self.opt["meta_info_file"], root)
            missing = [p for p in paths if not p.is_file()]
            if missing:
                raise OptionError(f"{where}.meta_info_file: {len(missing)} listed image(s) not found, e.g. {missing[0]}")
        else:
            paths = list_images(root, recursive=False)
        if not paths:
            raise OptionError(f"{where}.dataroot_lq: no images found in {root}")
        channels = 1 if self.opt.get("color") == "gray" else 3
        self.mean = _channel_stats(self.opt.get("mean"), f"{where}.mean", channels)
        self.std = _channel_stats(self.opt.get("std"), f"{where}.std", channels)
        # test images are read once each, so decoding them ahead into memory would only cost RAM
        self.store = ImageStore(paths, self.opt.get("color", "rgb"), cache=False)

    @property
    def paths(self) -> list[Path]:
        """The LQ image files, in dataset order."""
        return self.store.paths

    def __len__(self) -> int:
        return len(self.store)

    def __getitem__(self, index: int) -> dict[str, Any]:
        lq = to_tensor(self.store[index])
        if self.mean is not None:
            lq = lq - self.mean
        if self.std is not None:
            lq = lq / self.std
        return {"lq": lq, "lq_path": str(self.store.paths[index])}


__all__ = ["SingleImageDataset"]
