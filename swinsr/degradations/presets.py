"""Whole-image LR synthesis for building paired test sets (``swinsr degrade``).

* ``realesrgan``: the Real-ESRGAN x4plus second-order degradation with the official option
  values (kernels as in the dataset, chain as in the model); the source is *not* USM-sharpened,
  as for Real-ESRGAN's own validation pairs and ``../shared/data/Set14_realx4``.
* ``bicubic``: MATLAB-bicubic ``1/scale`` (the classical SR protocol).

Either can be followed by a real OpenCV JPEG at a fixed quality. The HR is cropped top-left to a
multiple of ``scale`` first, so the LR is exactly ``1/scale`` of it. All randomness comes from one
integer seed per image (:func:`image_seed`), so a rerun gives bit-identical files.
"""

from __future__ import annotations

import hashlib
from typing import Mapping

import numpy as np
import torch

from ..errors import ImageError, OptionError
from ..imresize import imresize, mod_crop
from .pipeline import RealESRGANDegradation, RealESRGANKernels

PRESETS = ("realesrgan", "bicubic")


def image_seed(seed: int, name: str) -> int:
    """A 63-bit seed for one image from the run's ``seed`` and the image's file name.

    Derived from the name rather than the position in the input list, so adding or removing other
    images does not change an image's degradation.
    """
    digest = hashlib.sha256(f"{int(seed)}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _as_rgb8(img: np.ndarray, notes: list[str]) -> np.ndarray:
    """``uint8`` ``(H, W, 3)``: 16 bits reduced, alpha dropped, gray replicated (each with a note)."""
    if img.dtype == np.uint16:
        img = np.round(img.astype(np.float32) / 257.0).astype(np.uint8)
        notes.append("reduced to 8 bits")
    if img.ndim == 3 and img.shape[2] in (2, 4):
        img = img[:, :, :-1]
        notes.append("alpha channel dropped")
    if img.ndim == 2 or img.shape[2] == 1:
        img = np.repeat(img.reshape(img.shape[0], img.shape[1], 1), 3, axis=2)
        notes.append("gray input degraded as RGB")
    return np.ascontiguousarray(img)


def _as_jpeg_input(img: np.ndarray, notes: list[str]) -> np.ndarray:
    """``uint8`` ``(H, W, 1|3)`` for OpenCV's JPEG: 16 bits reduced, alpha dropped."""
    if img.dtype == np.uint16:
        img = np.round(img.astype(np.float32) / 257.0).astype(np.uint8)
        notes.append("reduced to 8 bits for JPEG")
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] in (2, 4):
        img = img[:, :, :-1]
        notes.append("alpha channel dropped for JPEG")
    return np.ascontiguousarray(img)


class Degrader:
    """Makes the LR image of one HR image with a preset (see the module docstring).

    Args:
        scale: the SR factor (LR = HR / scale).
        preset: ``'realesrgan'`` or ``'bicubic'``.
        jpeg: quality (1-100) of a final OpenCV JPEG, or None.
        options: overrides of the Real-ESRGAN option values (top-level and kernel keys).
    """

    def __init__(self, scale: int, preset: str = "realesrgan", jpeg: int | None = None, options: Mapping | None = None):
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise OptionError(f"--scale {scale}: expected a positive integer")
        if preset not in PRESETS:
            raise OptionError(f"--preset {preset}: choose {' or '.join(PRESETS)}")
        if jpeg is not None and not 1 <= int(jpeg) <= 100:
            raise OptionError(f"--jpeg {jpeg}: JPEG quality must be within 1-100")
        self.scale, self.preset, self.jpeg = scale, preset, jpeg
        if preset == "realesrgan":
            self.kernels = RealESRGANKernels(options)
            self.chain = RealESRGANDegradation(options, scale)

    def __call__(self, hr: np.ndarray, seed: int) -> tuple[np.ndarray, list[str]]:
        """``(lr, notes)`` for an HR array (any layout of :mod:`swinsr.imageio`); ``notes`` say what
        was converted. Raises :class:`ImageError` for images smaller than ``scale`` pixels."""
        notes: list[str] = []
        if hr.shape[0] < self.scale or hr.shape[1] < self.scale:
            raise ImageError(f"image {hr.shape[1]}x{hr.shape[0]} is smaller than the scale {self.scale}")
        hr = mod_crop(hr, self.scale)
        if self.preset == "bicubic":
            lr = imresize(hr, 1.0 / self.scale) if self.scale > 1 else hr.copy()
        else:
            lr = self._realesrgan(_as_rgb8(hr, notes), seed)
        if self.jpeg is not None:
            from ..data.degradation_datasets import jpeg_roundtrip

            lr = jpeg_roundtrip(_as_jpeg_input(lr, notes), int(self.jpeg))
        return np.asarray(lr), notes

    @torch.no_grad()
    def _realesrgan(self, hr: np.ndarray, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        kernels = [k.unsqueeze(0) for k in self.kernels.sample(rng)]
        x = torch.from_numpy(hr.transpose(2, 0, 1).copy()).float().div_(255.0).unsqueeze(0)
        generator = torch.Generator().manual_seed(seed)
        lr = self.chain(x, *kernels, generator=generator)
        return lr[0].mul(255.0).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()


__all__ = ["PRESETS", "Degrader", "image_seed"]
