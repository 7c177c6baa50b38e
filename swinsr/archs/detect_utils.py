"""Reading hyperparameters off state-dict names and shapes: helpers shared by the families' detectors.

Every function takes a reference-layout state dict (``{name: tensor}``) and raises
:class:`~swinsr.errors.CheckpointError` with the offending key when the layout is inconsistent.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

import torch

from ..errors import CheckpointError


def shape(sd: Mapping[str, torch.Tensor], key: str) -> tuple[int, ...]:
    """Shape of ``sd[key]``; a missing key is a CheckpointError naming it."""
    if key not in sd:
        raise CheckpointError(f"incomplete state dict: missing {key!r}")
    return tuple(sd[key].shape)


def count_indices(sd: Mapping[str, Any], pattern: str) -> int:
    """Number of distinct integers matched by the ``(\\d+)`` group of ``pattern`` (must be 0..n-1)."""
    rx = re.compile(pattern)
    found = {int(m.group(1)) for k in sd if (m := rx.match(k))}
    if found and found != set(range(len(found))):
        raise CheckpointError(f"non-contiguous indices for {pattern!r}: {sorted(found)}")
    return len(found)


def has_prefix(sd: Mapping[str, Any], prefix: str) -> bool:
    """True when some key starts with ``prefix``."""
    return any(k.startswith(prefix) for k in sd)


def window_from_block(sd: Mapping[str, torch.Tensor], prefix: str) -> int | None:
    """Window side of the Swin block at ``prefix`` (``...blocks.0.``), or None if nothing tells."""
    if prefix + "attn.relative_position_bias_table" in sd:
        rows = shape(sd, prefix + "attn.relative_position_bias_table")[0]
        return (math.isqrt(rows) + 1) // 2
    if prefix + "attn.relative_position_index" in sd:
        return math.isqrt(shape(sd, prefix + "attn.relative_position_index")[0])
    if prefix + "attn.relative_coords_table" in sd:
        return (shape(sd, prefix + "attn.relative_coords_table")[1] + 1) // 2
    if prefix + "attn_mask" in sd:
        return math.isqrt(shape(sd, prefix + "attn_mask")[1])
    return None


def block_heads(sd: Mapping[str, torch.Tensor], prefix: str) -> int:
    """Attention heads of the Swin block at ``prefix`` (V2: ``logit_scale``; V1: the bias table)."""
    if prefix + "attn.logit_scale" in sd:
        return shape(sd, prefix + "attn.logit_scale")[0]
    return shape(sd, prefix + "attn.relative_position_bias_table")[1]


def first_mask_windows(sd: Mapping[str, torch.Tensor], stage_prefix: str) -> int | None:
    """Window count of the first saved shift mask under ``stage_prefix`` (sizes ``img_size``)."""
    rx = re.compile(re.escape(stage_prefix) + r"blocks\.(\d+)\.attn_mask$")
    for k in sd:
        if rx.match(k):
            return shape(sd, k)[0]
    return None


def swin_stages(sd: Mapping[str, torch.Tensor], stage_fmt: str) -> tuple[list[int], list[int], list[str]]:
    """Depths, heads and block-0 prefixes of each stage (``stage_fmt`` has ``{i}``)."""
    n = count_indices(sd, re.escape(stage_fmt.format(i="@")).replace("@", r"(\d+)"))
    depths, heads, firsts = [], [], []
    for i in range(n):
        prefix = stage_fmt.format(i=i)
        depth = count_indices(sd, re.escape(prefix) + r"blocks\.(\d+)\.")
        if depth == 0:
            raise CheckpointError(f"stage {prefix!r} has no blocks")
        depths.append(depth)
        heads.append(block_heads(sd, prefix + "blocks.0."))
        firsts.append(prefix + "blocks.0.")
    return depths, heads, firsts


def pixelshuffle_scale(sd: Mapping[str, torch.Tensor], prefix: str = "upsample.") -> int:
    """Total factor of a reference ``Upsample`` (conv + PixelShuffle pairs at ``prefix{0,2,4..}``)."""
    scale, k = 1, 0
    while f"{prefix}{k}.weight" in sd:
        out, inp = shape(sd, f"{prefix}{k}.weight")[:2]
        factor = math.isqrt(out // inp)
        if factor * factor * inp != out or factor not in (2, 3):
            raise CheckpointError(f"{prefix}{k}.weight {list(sd[f'{prefix}{k}.weight'].shape)} is not a x2/x3 pixel shuffle")
        scale *= factor
        k += 2
    if scale == 1:
        raise CheckpointError(f"no {prefix}N.weight pixel-shuffle convolution found")
    return scale


def tidy(x: float) -> float | int:
    """``2.0`` -> ``2`` (ratios read from shapes), other floats unchanged."""
    return int(x) if float(x).is_integer() else x
