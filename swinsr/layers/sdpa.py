"""``scaled_dot_product_attention`` with the head dimension padded to what the fused CUDA kernels need.

On CUDA, SDPA's memory-efficient kernel (the fused one that accepts an additive bias, which
every Swin attention has) requires the head dimension to be a multiple of 8 in fp16/bf16 and
of 4 in fp32; otherwise SDPA silently takes the unfused math path. SwinIR-S has head_dim 10,
SwinIR-M and HAT 30. Zero-padding q, k and v on the last dimension changes nothing
mathematically: ``q @ k^T`` gains only ``0 * 0`` terms, the padded value columns produce zero
output columns that are sliced off, and the scale is passed explicitly (the original
``head_dim ** -0.5``), so SDPA's default ``1 / sqrt(padded_dim)`` never applies.

:func:`head_dim_multiple` decides when to pad (CUDA only by default); :func:`force_head_padding`
turns it on for CPU so tests can prove padded == unpadded there.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn.functional as F

#: None: pad on CUDA only; True: pad on every device (tests); False: never pad.
_forced: bool | None = None


@contextlib.contextmanager
def force_head_padding(enabled: bool | None = True) -> Iterator[None]:
    """Context manager: pad head dims on every device (``True``), never (``False``) or CUDA only (``None``)."""
    global _forced
    previous, _forced = _forced, enabled
    try:
        yield
    finally:
        _forced = previous


def head_dim_multiple(device: torch.device, dtype: torch.dtype) -> int:
    """The head-dim multiple the fused kernel needs with an additive mask (1: no padding).

    8 for half precision, 4 for fp32 (and fp64, which only the tests use); 1 off CUDA unless
    :func:`force_head_padding` says otherwise.
    """
    if _forced is False or (_forced is None and device.type != "cuda"):
        return 1
    return 8 if dtype in (torch.float16, torch.bfloat16) else 4


def padded_sdpa(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    scale: float,
    dropout_p: float = 0.0,
    multiple: int | None = None,
) -> torch.Tensor:
    """``F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)`` with q/k/v zero-padded
    on the head dimension to ``multiple`` (default :func:`head_dim_multiple`), output sliced back.

    ``scale`` is required: it must be the original head dim's, not the padded one's.
    """
    d = q.shape[-1]
    if multiple is None:
        multiple = head_dim_multiple(q.device, q.dtype)
    extra = -d % multiple
    if extra == 0:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, scale=scale)
    q, k, v = (F.pad(t, (0, extra)) for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, scale=scale)
    return out[..., :d]
