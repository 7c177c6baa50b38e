"""Relative position tables: the V1 learned bias index and the V2 log-spaced coordinates."""

from __future__ import annotations

import functools
import math

import torch


@functools.lru_cache(maxsize=32)
def _relative_position_index(window_size: int) -> torch.Tensor:
    coords = torch.stack(
        torch.meshgrid(torch.arange(window_size), torch.arange(window_size), indexing="ij")
    ).flatten(1)  # 2, N
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)  # N, N, 2
    rel = rel + (window_size - 1)
    return rel[:, :, 0] * (2 * window_size - 1) + rel[:, :, 1]


def relative_position_index(window_size: int) -> torch.Tensor:
    """``(N, N)`` index into a ``((2w-1)^2, heads)`` bias table for each token pair of a window.

    Identical to the ``relative_position_index`` buffer of the reference implementations.
    """
    return _relative_position_index(int(window_size)).clone()


def log_spaced_relative_coords(window_size: int, pretrained_window_size: int = 0) -> torch.Tensor:
    """Swin V2's ``relative_coords_table``: ``(1, 2w-1, 2w-1, 2)`` log-spaced offsets.

    Offsets are normalised to [-8, 8] by the *pretrained* window size when one is given (so a
    model fine-tuned at a larger window keeps the scale it was trained with), else by the
    window itself, then mapped through ``sign(x) * log2(|x| + 1) / log2(8)``.
    """
    span = torch.arange(-(window_size - 1), window_size, dtype=torch.float32)
    table = torch.stack(torch.meshgrid(span, span, indexing="ij")).permute(1, 2, 0).unsqueeze(0)
    norm = pretrained_window_size if pretrained_window_size > 0 else window_size
    # A 1x1 window has no offsets; the reference would divide 0 by 0 here.
    table = table / max(norm - 1, 1) * 8
    return torch.sign(table) * torch.log2(table.abs() + 1.0) / math.log2(8)


def infer_pretrained_window_size(table: torch.Tensor, window_size: int) -> int | None:
    """Recover ``pretrained_window_size`` from a saved V2 ``relative_coords_table``.

    Released checkpoints store the table, whose largest entry encodes the normalisation.
    Returns 0 when the table matches "normalised by its own window" (the V2 default), the
    pretrained size when it matches another one, and ``None`` when the values fit neither
    (e.g. a synthetic state dict of random tensors).
    """
    if table.numel() == 0 or window_size < 2:
        return 0
    table = table.detach().double().cpu()
    if torch.allclose(table, log_spaced_relative_coords(window_size, 0).double(), atol=1e-5):
        return 0
    top = float(table[..., 0].max())
    # invert the log map: top = log2(x + 1) / 3 with x = 8 (w - 1) / (p - 1)
    x = 2.0 ** (top * 3.0) - 1.0
    if x <= 0:
        return None
    guess = int(round(8.0 * (window_size - 1) / x + 1.0))
    if guess >= 2 and torch.allclose(
        table, log_spaced_relative_coords(window_size, guess).double(), atol=1e-5
    ):
        return guess
    return None
