"""Restoration datasets for upscale-1 tasks: the degraded input is made from the clean image on the fly.

* :class:`GaussianNoiseDataset`: additive white Gaussian noise (SwinIR's denoising).
* :class:`JPEGDataset`: OpenCV JPEG compression (SwinIR's JPEG compression artifact reduction).

Training crops a ``gt_size`` patch from images decoded once (see :class:`ImageStore`), flips and
rotates it, then degrades it with a strength drawn from the configured range. Validation
degrades whole images with the fixed ``*_test`` strength and a per-image seed, so every
validation pass sees the same inputs.
"""

from __future__ import annotations

from typing import Any, Mapping

from .._lazy import cv2
import numpy as np
import torch

from ..errors import OptionError
from ..train.schema import Field
from .base import AUGMENT_FIELDS, OptionDataset
from .io import to_tensor
from .registry import DATASET_REGISTRY
from .sr_datasets import drop_small, gt_paths
from .store import ImageStore
from .transforms import augment, random_crop, sample_rng

FOLDERS = (str, list)


class CleanImageDataset(OptionDataset):
    """Shared part: clean images, patches, augmentation; subclasses implement :meth:`degrade`."""

    FIELDS = {**AUGMENT_FIELDS, "dataroot_gt": Field(FOLDERS)}

    def __init__(self, opt: Mapping[str, Any]):
        super().__init__(opt)
        if int(self.opt.get("scale", 1)) != 1:
            raise OptionError(f"scale: {type(self).__name__} is for upscale-1 restoration; set scale: 1 (got {self.opt['scale']})")
        self.store = ImageStore(gt_paths(self.opt), self.opt["color"], self.opt["cache"] if self.is_train else False, self.opt["cache_gb"])
        if self.is_train:
            if not self.opt.get("gt_size"):
                raise OptionError(f"gt_size: {type(self).__name__} needs a training patch size")
            drop_small(self.store, self.opt["gt_size"], f"datasets.{self.opt.get('name') or 'train'}")

    def __len__(self) -> int:
        return len(self.store)

    def degrade(self, clean: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        """The degraded ``(C, H, W)`` float tensor for a clean ``uint8`` ``(H, W, C)`` image."""
        raise NotImplementedError

    def __getitem__(self, key: Any) -> dict[str, Any]:
        index, rng = sample_rng(key)
        img = self.store[index]
        path = str(self.store.paths[index])
        if self.is_train:
            (img,) = augment([random_crop(img, self.opt["gt_size"], rng, path=path)], rng, hflip=self.opt["use_hflip"], rot=self.opt["use_rot"])
        return {"lq": self.degrade(img, rng), "gt": to_tensor(img), "lq_path": path, "gt_path": path}


def strength_range(opt: Mapping[str, Any], single: str, rng_key: str, where: str) -> tuple[float, float]:
    """``(low, high)`` from either ``single`` (fixed) or ``rng_key`` (``[low, high]``)."""
    if opt.get(rng_key) is not None:
        lo_hi = opt[rng_key]
        if not isinstance(lo_hi, (list, tuple)) or len(lo_hi) != 2 or not all(isinstance(v, (int, float)) for v in lo_hi) or lo_hi[0] > lo_hi[1]:
            raise OptionError(f"{where}.{rng_key}: expected [low, high] numbers, got {lo_hi!r}")
        return float(lo_hi[0]), float(lo_hi[1])
    if opt.get(single) is None:
        raise OptionError(f"{where}.{single}: missing (or give {rng_key}: [low, high])")
    return float(opt[single]), float(opt[single])


def strength_power(opt: Mapping[str, Any], key: str, where: str) -> float:
    """The ``*_power`` option: 1 samples the range uniformly, ``p > 1`` favours its low end."""
    power = float(1.0 if opt.get(key) is None else opt[key])
    if not power > 0:
        raise OptionError(f"{where}.{key}: must be > 0 (1 = uniform, 2 = favour the low end), got {opt[key]!r}")
    return power


def draw_strength(lo: float, hi: float, power: float, rng: np.random.Generator) -> float:
    """``lo + (hi - lo) * u ** power`` for ``u`` uniform in [0, 1).

    ``power`` > 1 spends more of training at the low end of the range (with 2, a quarter of
    the draws fall in its lowest 6%, 58% in its lowest third) without leaving the rest out.
    """
    return lo + (hi - lo) * float(rng.random()) ** power


@DATASET_REGISTRY.register()
class GaussianNoiseDataset(CleanImageDataset):
    """Clean images + white Gaussian noise with standard deviation ``sigma`` (0-255 scale).

    Training draws sigma uniformly from ``sigma_range`` (``sigma_power: p > 1`` biases it towards
    the low end) or uses ``sigma``; validation uses
    ``sigma_test`` (default: ``sigma``, else the top of the range). The noisy input is not
    clipped, as in SwinIR's training.
    """

    FIELDS = {
        **CleanImageDataset.FIELDS,
        "sigma": Field((float,), None, nullable=True),
        "sigma_range": Field((list,), None, nullable=True),
        "sigma_test": Field((float,), None, nullable=True),
        "sigma_power": Field((float,), 1.0),
    }

    def __init__(self, opt: Mapping[str, Any]):
        super().__init__(opt)
        where = f"datasets.{self.opt.get('name') or self.phase}"
        self.sigma = strength_range(self.opt, "sigma", "sigma_range", where)
        self.sigma_test = float(self.opt["sigma_test"]) if self.opt.get("sigma_test") is not None else self.sigma[1]
        self.sigma_power = strength_power(self.opt, "sigma_power", where)

    def degrade(self, clean: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        if not self.is_train:
            sigma = self.sigma_test
        elif self.sigma_power == 1.0:
            sigma = rng.uniform(*self.sigma)  # the draw earlier runs used, so their seeds still reproduce
        else:
            sigma = draw_strength(*self.sigma, self.sigma_power, rng)
        x = to_tensor(clean)
        noise = rng.standard_normal(size=x.shape, dtype=np.float32) * (sigma / 255.0)
        return x + torch.from_numpy(noise)


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode ``uint8`` RGB/gray ``(H, W, C)`` with OpenCV's JPEG at ``quality``."""
    gray = img.shape[2] == 1
    src = img[:, :, 0] if gray else np.ascontiguousarray(img[:, :, ::-1])
    ok, buf = cv2.imencode(".jpg", src, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise OptionError(f"JPEG encoding failed at quality {quality}")
    out = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
    return out[:, :, None] if gray else np.ascontiguousarray(out[:, :, ::-1])


@DATASET_REGISTRY.register()
class JPEGDataset(CleanImageDataset):
    """Clean images + JPEG compression (OpenCV encoder) at ``quality`` (or drawn from ``quality_range``).

    Training draws the quality uniformly from ``quality_range``, or with ``quality_power: p > 1``
    biased towards its low (strongest) end.

    Validation compresses whole images at ``quality_test`` (default: ``quality``, else the
    bottom of the range). Use ``color: gray`` for SwinIR's grayscale JPEG models.
    """

    FIELDS = {
        **CleanImageDataset.FIELDS,
        "quality": Field((int,), None, nullable=True),
        "quality_range": Field((list,), None, nullable=True),
        "quality_test": Field((int,), None, nullable=True),
        "quality_power": Field((float,), 1.0),
    }

    def __init__(self, opt: Mapping[str, Any]):
        super().__init__(opt)
        where = f"datasets.{self.opt.get('name') or self.phase}"
        lo, hi = strength_range(self.opt, "quality", "quality_range", where)
        if not 1 <= lo <= hi <= 100:
            raise OptionError(f"{where}.quality: JPEG quality must be within 1..100, got {lo}..{hi}")
        self.quality = (int(lo), int(hi))
        self.quality_test = int(self.opt["quality_test"]) if self.opt.get("quality_test") is not None else self.quality[0]
        self.quality_power = strength_power(self.opt, "quality_power", where)

    def degrade(self, clean: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        if not self.is_train:
            q = self.quality_test
        elif self.quality_power == 1.0:
            q = int(rng.integers(self.quality[0], self.quality[1] + 1))  # as earlier runs drew it
        else:  # integer qualities lo..hi, each [q, q + 1) of the continuous draw
            lo, hi = self.quality
            q = min(hi, int(draw_strength(lo, hi + 1, self.quality_power, rng)))
        return to_tensor(jpeg_roundtrip(clean, q))
