"""Conversions between image arrays (uint8/uint16/float, HW or HWC) and float tensors in [0, 1]."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import OptionError

#: Value of full intensity for each supported integer dtype.
_INT_MAX = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def array_to_tensor(image: np.ndarray) -> torch.Tensor:
    """``(H, W)`` or ``(H, W, C)`` uint8/uint16/float array -> ``(1, C, H, W)`` float32 in [0, 1].

    Float arrays are taken to be in [0, 1] already and are clipped to it.
    """
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise OptionError(f"expected an image array of shape (H, W) or (H, W, 1-4 channels), got {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise OptionError(f"image array has no pixels (shape {arr.shape})")
    if arr.dtype in _INT_MAX:
        data = arr.astype(np.float32) / _INT_MAX[arr.dtype]
    elif np.issubdtype(arr.dtype, np.floating):
        data = np.clip(np.nan_to_num(arr.astype(np.float32)), 0.0, 1.0)
    else:
        raise OptionError(f"unsupported image dtype {arr.dtype}: use uint8, uint16 or float in [0, 1]")
    return torch.from_numpy(np.ascontiguousarray(data.transpose(2, 0, 1)))[None]


def tensor_to_array(t: torch.Tensor, dtype: np.dtype, *, squeeze_channel: bool) -> np.ndarray:
    """``(1, C, H, W)`` float tensor -> ``(H, W, C)`` array of ``dtype`` (rounded, clipped); ``(H, W)`` if asked."""
    dtype = np.dtype(dtype)
    img = t[0].detach().float().cpu().clamp(0, 1)  # a copy; scaled in place below to keep peak memory low
    if dtype in _INT_MAX:
        img = img.mul_(_INT_MAX[dtype]).round_().to(torch.uint8 if dtype == np.uint8 else torch.int32)
    arr = img.permute(1, 2, 0).numpy().astype(dtype)
    if squeeze_channel and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    return arr


def resize_antialiased(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic resize of ``(B, C, H, W)`` to ``size`` with antialiasing (low-pass) when shrinking."""
    if tuple(t.shape[-2:]) == tuple(size):
        return t
    return F.interpolate(t, size=size, mode="bicubic", align_corners=False, antialias=True).clamp_(0, 1)
