"""Device and numeric-precision choices for inference (``--device`` / ``--precision``)."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

from ..errors import OptionError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda", "mps")

_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"`` -> CUDA if available, else MPS, else CPU; an unavailable device is an :class:`OptionError`."""
    if isinstance(device, torch.device):
        return device
    name = (device or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise OptionError("--device cuda: no CUDA device is available here; use --device cpu or auto")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise OptionError("--device mps: Apple MPS is not available here; use --device cpu or auto")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise OptionError(f"--device {device!r} is not a device ({', '.join(DEVICES)})") from exc


def resolve_precision(precision: str | None, device: torch.device) -> str:
    """Map ``auto`` to the precision used on ``device``: bf16 autocast on CUDA (when supported), else fp32.

    fp16 is never chosen automatically: Swin SR models overflow in fp16 on some inputs, so it is
    only used on request and guarded per tile (see :func:`swinsr.inference.tiling.run_tiles`).
    """
    name = (precision or "auto").lower()
    if name not in PRECISIONS:
        raise OptionError(f"--precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if name == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return "bf16"
        return "fp32"
    return name


@contextlib.contextmanager
def autocast(precision: str, device: torch.device) -> Iterator[None]:
    """Autocast context for ``precision`` (fp32: no autocast); the model weights stay float32."""
    dtype = _AUTOCAST_DTYPES.get(precision)
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield
