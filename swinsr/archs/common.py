"""Helpers shared by the SR models and the classifiers."""

from __future__ import annotations

from typing import Sequence

import torch.nn as nn


def to_int(v: int | Sequence[int]) -> int:
    """A square size given as ``n`` or ``(n, n)`` -> ``n``."""
    if isinstance(v, (tuple, list)):
        if len(set(v)) != 1:
            raise ValueError(f"only square img_size/patch_size are supported, got {v}")
        return int(v[0])
    return int(v)


def init_swin_weights(m: nn.Module) -> None:
    """The reference initialisation: truncated-normal linear weights, zero biases, unit LayerNorms."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.zeros_(m.bias)
        nn.init.ones_(m.weight)
