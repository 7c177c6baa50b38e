"""MATLAB-compatible bicubic ``imresize`` for numpy arrays and torch tensors.

The standard SR evaluation protocol makes LR images with MATLAB's ``imresize(img, 1/s, 'bicubic')``;
OpenCV's and PIL's bicubic differ from it (kernel constant, no antialiasing, boundary handling) by
enough to move PSNR by tenths of a dB. This module reproduces MATLAB's semantics:

* cubic convolution kernel with ``a = -0.5`` (Keys), support 4 taps;
* when downscaling, the kernel is stretched by ``1/scale`` (antialiasing), so every input pixel
  contributes;
* sample positions ``u = x / scale + 0.5 * (1 - 1 / scale)`` (pixel centres aligned);
* out-of-range taps mirror the image symmetrically (``... 2 1 | 1 2 3 ... n | n n-1 ...``);
* the output size for a scale factor is ``ceil(scale * size)``;
* the dimension with the smaller scale factor is resized first (height first on ties);
* integer images stay integer between the two passes (rounded half away from zero, saturated).

Each 1-D resize is a dense ``(out, in)`` weight matrix (taps outside the image are folded back in by
the mirroring), so the whole resize is two matrix products, identical for numpy and torch.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Sequence, Union

import numpy as np
import torch

from .errors import OptionError

ScaleArg = Union[float, Sequence[float], None]
ShapeArg = Union[Sequence[int], None]

CUBIC_A = -0.5  # MATLAB's bicubic kernel constant (OpenCV uses -0.75)


def cubic_kernel(x: np.ndarray, a: float = CUBIC_A) -> np.ndarray:
    """Keys' cubic convolution kernel, zero outside ``|x| <= 2``."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    near = ((a + 2.0) * ax3 - (a + 3.0) * ax2 + 1.0) * (ax <= 1.0)
    far = (a * ax3 - 5.0 * a * ax2 + 8.0 * a * ax - 4.0 * a) * ((ax > 1.0) & (ax <= 2.0))
    return near + far


@lru_cache(maxsize=64)
def resize_matrix(in_len: int, out_len: int, scale: float, antialias: bool = True) -> np.ndarray:
    """The ``(out_len, in_len)`` float64 matrix ``W`` with ``resized = W @ signal`` along one axis.

    ``scale`` is the factor MATLAB uses for the kernel (``out/in`` unless a scale was given).
    Cached: evaluating a whole benchmark set reuses a handful of shapes.
    """
    kernel_width = 4.0
    stretch = antialias and scale < 1.0
    if stretch:
        kernel_width /= scale
    x = np.arange(1, out_len + 1, dtype=np.float64)
    centre = x / scale + 0.5 * (1.0 - 1.0 / scale)  # 1-based input coordinate of each output pixel
    left = np.floor(centre - kernel_width / 2.0)
    taps = int(math.ceil(kernel_width)) + 2
    idx = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]  # 1-based, may be out of range
    dist = centre[:, None] - idx
    weights = scale * cubic_kernel(dist * scale) if stretch else cubic_kernel(dist)
    weights /= weights.sum(axis=1, keepdims=True)
    # symmetric padding: 1-based index k maps into [1, n] by mirroring with the edge pixel repeated
    period = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    src = period[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    matrix = np.zeros((out_len, in_len), dtype=np.float64)
    rows = np.broadcast_to(np.arange(out_len)[:, None], src.shape)
    np.add.at(matrix, (rows, src), weights)
    matrix.setflags(write=False)
    return matrix


def _plan(in_hw: tuple[int, int], scale: ScaleArg, output_shape: ShapeArg) -> list[tuple[int, int, int, float]]:
    """Per resized axis (0 = height, 1 = width): ``(axis, in_len, out_len, kernel_scale)`` in MATLAB order."""
    if scale is None and output_shape is None:
        raise OptionError("imresize needs a scale or an output_shape")
    if output_shape is not None:
        out_hw = (int(output_shape[0]), int(output_shape[1]))
        if scale is None:
            scales = (out_hw[0] / in_hw[0], out_hw[1] / in_hw[1])
        else:
            scales = _pair(scale)
    else:
        scales = _pair(scale)
        # ceil(scale * n) as MATLAB, guarded against 1/3 * 255 = 85.000000001
        out_hw = tuple(int(math.ceil(s * n - 1e-9)) for s, n in zip(scales, in_hw))  # type: ignore[assignment]
    if min(out_hw) < 1 or min(scales) <= 0:
        raise OptionError(f"imresize: invalid target size {out_hw} from input {in_hw} (scale={scale})")
    order = sorted(range(2), key=lambda ax: (scales[ax], ax))
    return [(ax, in_hw[ax], out_hw[ax], scales[ax]) for ax in order]


def _pair(scale: float | Sequence[float]) -> tuple[float, float]:
    if isinstance(scale, (int, float)):
        return float(scale), float(scale)
    s = tuple(float(v) for v in scale)
    if len(s) != 2:
        raise OptionError(f"imresize: scale must be a number or (scale_h, scale_w), got {scale!r}")
    return s  # type: ignore[return-value]


def imresize(
    img: np.ndarray | torch.Tensor,
    scale: ScaleArg = None,
    output_shape: ShapeArg = None,
    *,
    antialias: bool = True,
) -> np.ndarray | torch.Tensor:
    """Resize like MATLAB ``imresize(img, scale, 'bicubic')`` (or ``imresize(img, [h w], 'bicubic')``).

    Args:
        img: numpy ``(H, W)`` or ``(H, W, C)`` (uint8, uint16 or float), or a torch tensor
            ``(C, H, W)``/``(B, C, H, W)`` (float, or uint8 with ``(H, W)`` last).
        scale: factor (``0.25`` shrinks 4x, ``2`` enlarges 2x) or ``(scale_h, scale_w)``.
        output_shape: ``(height, width)``; when given without ``scale`` the factor is ``out / in``.
        antialias: stretch the kernel when shrinking (MATLAB default ``true``).

    Returns:
        The same kind of array and dtype. Integer inputs are rounded (half away from zero) and
        saturated after each 1-D pass, as MATLAB does for uint8 images; this reproduces MATLAB's
        uint8 outputs bit-exactly. Floats are neither rounded nor clipped (bicubic overshoots).
    """
    if isinstance(img, torch.Tensor):
        return _imresize_torch(img, scale, output_shape, antialias)
    return _imresize_numpy(np.asarray(img), scale, output_shape, antialias)


def _imresize_numpy(img: np.ndarray, scale: ScaleArg, output_shape: ShapeArg, antialias: bool) -> np.ndarray:
    if img.ndim not in (2, 3):
        raise OptionError(f"imresize: expected an (H, W) or (H, W, C) array, got shape {img.shape}")
    in_dtype = img.dtype
    integer = np.issubdtype(in_dtype, np.integer)
    out = img.astype(np.float64)
    for axis, in_len, out_len, s in _plan(img.shape[:2], scale, output_shape):
        weights = resize_matrix(in_len, out_len, s, antialias)
        if axis == 0:  # (out_h, H) @ (H, W*C): no transposed copies
            out = (weights @ out.reshape(in_len, -1)).reshape((out_len,) + out.shape[1:])
        elif out.ndim == 2:
            out = out @ weights.T
        else:  # batched over rows: (out_w, W) @ (H, W, C) -> (H, out_w, C)
            out = np.matmul(weights, out)
        if integer:
            # MATLAB keeps the input class between the two 1-D passes: round and saturate each time
            info = np.iinfo(in_dtype)
            out = np.clip(np.sign(out) * np.floor(np.abs(out) + 0.5), info.min, info.max)
    return out.astype(in_dtype)


def _imresize_torch(x: torch.Tensor, scale: ScaleArg, output_shape: ShapeArg, antialias: bool) -> torch.Tensor:
    if x.ndim < 2:
        raise OptionError(f"imresize: expected a (..., H, W) tensor, got shape {tuple(x.shape)}")
    in_dtype = x.dtype
    work_dtype = in_dtype if in_dtype.is_floating_point else torch.float32
    out = x.to(work_dtype)
    for axis, in_len, out_len, s in _plan((x.shape[-2], x.shape[-1]), scale, output_shape):
        weights = torch.tensor(resize_matrix(in_len, out_len, s, antialias), dtype=work_dtype, device=x.device)
        if axis == 0:
            out = torch.matmul(weights, out)  # (out_h, H) @ (..., H, W)
        else:
            out = torch.matmul(out, weights.T)  # (..., H, W) @ (W, out_w)
        if not in_dtype.is_floating_point:
            # as MATLAB: integer class kept between passes, rounding half away from zero
            info = torch.iinfo(in_dtype)
            out = (torch.sign(out) * torch.floor(out.abs() + 0.5)).clamp(info.min, info.max)
    return out if in_dtype.is_floating_point else out.to(in_dtype)


def mod_crop(img: np.ndarray, scale: int) -> np.ndarray:
    """Top-left crop of an ``(H, W[, C])`` array to multiples of ``scale`` (the protocol's HR crop)."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def bicubic_downscale(hr: np.ndarray, scale: int) -> np.ndarray:
    """The protocol's LR image: MATLAB bicubic ``1/scale`` of the top-left mod-``scale`` crop of ``hr``."""
    return imresize(mod_crop(hr, scale), 1.0 / scale)  # type: ignore[return-value]
