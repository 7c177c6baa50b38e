"""Random crops, flips and rotations driven by an explicit ``numpy`` generator.

Every random choice comes from the generator passed in, which the sampler seeds per sample, so a
sample's patch does not depend on worker scheduling, and a resumed run sees the same patches.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import ImageError


def random_crop(img: np.ndarray, size: int, rng: np.random.Generator, *, path: object = "") -> np.ndarray:
    """A random ``size x size`` patch of ``img``."""
    h, w = img.shape[:2]
    if h < size or w < size:
        raise ImageError(f"{path}: image {w}x{h} is smaller than the patch size {size}")
    top = int(rng.integers(0, h - size + 1))
    left = int(rng.integers(0, w - size + 1))
    return img[top : top + size, left : left + size]


def paired_random_crop(
    gt: np.ndarray, lq: np.ndarray, gt_size: int, scale: int, rng: np.random.Generator, *, path: object = ""
) -> tuple[np.ndarray, np.ndarray]:
    """Aligned random patches: ``gt_size`` from ``gt`` and ``gt_size // scale`` from ``lq``."""
    lq_size = gt_size // scale
    h, w = lq.shape[:2]
    gh, gw = gt.shape[:2]
    if gh < h * scale or gw < w * scale:
        raise ImageError(f"{path}: GT {gw}x{gh} is smaller than {scale}x the LQ size {w}x{h}")
    if h < lq_size or w < lq_size:
        raise ImageError(f"{path}: LQ image {w}x{h} is smaller than the LQ patch size {lq_size}")
    top = int(rng.integers(0, h - lq_size + 1))
    left = int(rng.integers(0, w - lq_size + 1))
    lq_patch = lq[top : top + lq_size, left : left + lq_size]
    gt_patch = gt[top * scale : (top + lq_size) * scale, left * scale : (left + lq_size) * scale]
    return gt_patch, lq_patch


def augment(imgs: Sequence[np.ndarray], rng: np.random.Generator, *, hflip: bool = True, rot: bool = True) -> list[np.ndarray]:
    """The same random horizontal flip / vertical flip / transpose applied to every image.

    The three together generate all 8 flips and 90-degree rotations, as in BasicSR.
    """
    do_h = hflip and rng.random() < 0.5
    do_v = rot and rng.random() < 0.5
    do_t = rot and rng.random() < 0.5
    out = []
    for img in imgs:
        if do_h:
            img = img[:, ::-1]
        if do_v:
            img = img[::-1]
        if do_t:
            img = img.transpose(1, 0, 2)
        out.append(np.ascontiguousarray(img))
    return out


def sample_rng(key: object, salt: int = 0) -> tuple[int, np.random.Generator]:
    """Split a sampler key into ``(index, generator)``.

    Our sampler yields ``(index, seed)`` pairs; plain integer indices (validation, user code)
    get a generator seeded by the index so results stay reproducible.
    """
    if isinstance(key, (tuple, list)):
        index, seed = int(key[0]), int(key[1])
    else:
        index, seed = int(key), int(key) + 1_000_003 * (salt + 1)
    return index, np.random.default_rng(seed)
