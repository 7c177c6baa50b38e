"""Image files for training: listing folders, decoding to uint8 arrays, and tensor conversion.

Training code works on RGB (or single-channel gray) ``uint8`` arrays of shape ``(H, W, C)``;
tensors handed to models are float ``(C, H, W)`` in ``[0, 1]``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .._lazy import cv2
import numpy as np
import torch

from ..errors import ImageError, OptionError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
COLORS = ("rgb", "gray")


def list_images(folder: str | os.PathLike, *, recursive: bool = True) -> list[Path]:
    """Sorted image files under ``folder`` (recursively by default)."""
    root = Path(folder)
    if not root.is_dir():
        raise OptionError(f"{root}: image folder not found")
    walker = root.rglob("*") if recursive else root.iterdir()
    files = sorted(p for p in walker if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    return files


def read_meta_info(meta_file: str | os.PathLike, root: str | os.PathLike) -> list[Path]:
    """Paths listed in a BasicSR ``meta_info`` file (first token of each line, relative to ``root``)."""
    lines = Path(meta_file).read_text().splitlines()
    return [Path(root) / line.split()[0] for line in lines if line.strip()]


def read_image(path: str | os.PathLike, color: str = "rgb") -> np.ndarray:
    """Decode ``path`` to ``uint8`` ``(H, W, 3)`` RGB or ``(H, W, 1)`` gray; 16-bit files are scaled down."""
    flag = cv2.IMREAD_GRAYSCALE if color == "gray" else cv2.IMREAD_COLOR
    data = np.fromfile(str(path), dtype=np.uint8)  # np.fromfile + imdecode copes with non-ASCII paths
    img = cv2.imdecode(data, flag | cv2.IMREAD_ANYDEPTH) if data.size else None
    if img is None:
        raise ImageError(f"{path}: cannot decode image")
    if img.dtype == np.uint16:
        img = np.round(img.astype(np.float32) / 257.0).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return img[:, :, None]
    return np.ascontiguousarray(img[:, :, ::-1])  # BGR -> RGB


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """``uint8`` ``(H, W, C)`` -> float32 ``(C, H, W)`` in ``[0, 1]``."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().div_(255.0)


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """Float ``(C, H, W)`` (or ``(1, C, H, W)``) in ``[0, 1]`` -> rounded ``uint8`` ``(H, W, C)``."""
    if t.ndim == 4:
        t = t[0]
    arr = t.detach().float().clamp(0, 1).mul(255.0).round().byte().cpu().numpy()
    return arr.transpose(1, 2, 0)


def write_image(path: str | os.PathLike, img: np.ndarray) -> None:
    """Write an RGB/gray ``uint8`` ``(H, W, C)`` image atomically (format from the suffix)."""
    from ..checkpoint import _atomic_write

    p = Path(path)
    bgr = img[:, :, 0] if img.shape[2] == 1 else img[:, :, ::-1]
    ok, buf = cv2.imencode(p.suffix or ".png", np.ascontiguousarray(bgr))
    if not ok:
        raise ImageError(f"{p}: cannot encode image")
    _atomic_write(p, lambda tmp: buf.tofile(tmp))
