"""Decoded-image store: decode each training image once and keep it in memory.

Random patches are then cut from memory instead of re-decoding a PNG per patch, which
dominates the data cost on CPU. Images are decoded in the main process before workers fork, so
workers share the arrays copy-on-write instead of holding one cache each.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from .io import read_image

log = logging.getLogger("swinsr.train")

DEFAULT_CACHE_GB = 4.0


def image_size(path: Path) -> tuple[int, int]:
    """``(height, width)`` from the file header, without decoding pixels."""
    with Image.open(path) as im:
        w, h = im.size
    return h, w


class ImageStore:
    """Images by index, decoded once when ``cache`` allows it.

    Args:
        paths: image files.
        color: ``'rgb'`` or ``'gray'``.
        cache: ``True`` (always preload), ``False`` (decode on every access), or ``'auto'``
            (preload when the decoded images fit in ``cache_gb`` gigabytes).
    """

    def __init__(self, paths: Sequence[Path], color: str = "rgb", cache: bool | str = "auto", cache_gb: float = DEFAULT_CACHE_GB):
        self.paths = list(paths)
        self.color = color
        self.sizes = [image_size(p) for p in self.paths]
        channels = 1 if color == "gray" else 3
        total = sum(h * w * channels for h, w in self.sizes)
        self.cached = cache is True or (cache == "auto" and total <= cache_gb * 1e9)
        self._images: list[np.ndarray] | None = None
        if self.cached:
            threads = min(8, os.cpu_count() or 1)
            with ThreadPoolExecutor(threads) as pool:  # OpenCV decodes without holding the GIL
                self._images = list(pool.map(lambda p: read_image(p, color), self.paths))
            self.sizes = [img.shape[:2] for img in self._images]
            log.debug("cached %d images (%.0f MB)", len(self.paths), total / 1e6)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:
        if self._images is not None:
            return self._images[index]
        return read_image(self.paths[index], self.color)

    def keep(self, indices: Sequence[int]) -> None:
        """Restrict the store to ``indices`` (e.g. drop images smaller than the training patch)."""
        self.paths = [self.paths[i] for i in indices]
        self.sizes = [self.sizes[i] for i in indices]
        if self._images is not None:
            self._images = [self._images[i] for i in indices]
