"""DRCT detection: the reference constructor arguments from state-dict names and shapes.

A DRCT state dict is claimed by its dense groups (``layers.N.swin1`` .. ``swin5`` and
``adjust1`` .. ``adjust5``). Read exactly: ``embed_dim``, ``in_chans``, ``gc`` (the adjust
convolutions' outputs), the number of groups, ``num_heads`` (the first block of each group;
the other blocks are checked against the reference head formula), ``window_size``,
``mlp_ratio``, ``img_size`` (from the saved shift masks of ``swin2``), ``upscale``,
``resi_connection``, ``qkv_bias``, ``patch_norm``, ``ape``. Assumed, listed in the notes:
``depths`` 6 per group (the values only slice the training-time stochastic-depth schedule),
``img_range`` 1, and the unused ``compress_ratio``/``squeeze_factor``/``conv_scale``/
``overlap_ratio`` at the reference defaults (the released option files pass exactly those).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch

from ...errors import CheckpointError
from ...layers.drct import DENSE_BLOCKS, dense_block_heads
from ..detect_utils import count_indices, has_prefix, pixelshuffle_scale, shape, tidy, window_from_block
from ..spec import ModelSpec


def is_drct_layout(sd: Mapping[str, Any]) -> bool:
    """True for DRCT's dense-group module names."""
    return has_prefix(sd, "layers.0.swin1.") and has_prefix(sd, "layers.0.adjust1.")


def detect_drct(sd: Mapping[str, torch.Tensor]) -> ModelSpec | None:
    """DRCT's :class:`~swinsr.archs.spec.ModelSpec`, or None when ``sd`` is not a DRCT layout."""
    if not is_drct_layout(sd):
        return None
    notes: list[str] = []
    embed_dim, in_chans = shape(sd, "conv_first.weight")[:2]
    groups = count_indices(sd, r"layers\.(\d+)\.swin1\.")
    gc = shape(sd, "layers.0.adjust1.weight")[0]
    heads = []
    for i in range(groups):
        first = shape(sd, f"layers.{i}.swin1.attn.relative_position_bias_table")[1]
        heads.append(first)
        for k in range(1, DENSE_BLOCKS):
            key = f"layers.{i}.swin{k + 1}.attn.relative_position_bias_table"
            width = embed_dim + k * gc
            found, expected = shape(sd, key)[1], dense_block_heads(width, first)
            if found != expected:
                raise CheckpointError(f"{key}: {found} heads, but DRCT's formula gives {expected} for width {width}")
    window = window_from_block(sd, "layers.0.swin1.")
    if window is None:
        raise CheckpointError("missing 'layers.0.swin1.attn.relative_position_bias_table' (the window size)")
    mask_key = "layers.0.swin2.attn_mask"
    if mask_key in sd:
        img_size = math.isqrt(shape(sd, mask_key)[0]) * window
    elif "absolute_pos_embed" in sd:
        img_size = math.isqrt(shape(sd, "absolute_pos_embed")[1])
    else:
        img_size = 64
        notes.append("img_size 64 assumed: no attn_mask saved (it only sizes the training-time mask)")
    mlp_ratio = tidy(shape(sd, "layers.0.swin1.mlp.fc1.weight")[0] / embed_dim)
    if "conv_before_upsample.0.weight" not in sd:
        raise CheckpointError(
            "DRCT state dict without conv_before_upsample.0.weight: only the 'pixelshuffle' head exists in DRCT"
        )
    upscale = pixelshuffle_scale(sd)
    resi = "1conv" if "conv_after_body.weight" in sd else "identity"
    notes.append(f"depths [6] * {groups} assumed: only their number shapes DRCT (the values set the drop-path schedule)")
    notes.append("img_range 1 assumed (not stored; every released DRCT uses it)")
    notes.append("compress_ratio 3, squeeze_factor 30, conv_scale 0.01, overlap_ratio 0.5: reference defaults, unused by DRCT")
    kwargs: dict[str, Any] = dict(
        upscale=upscale, in_chans=in_chans, img_size=img_size, window_size=window,
        compress_ratio=3, squeeze_factor=30, conv_scale=0.01, overlap_ratio=0.5,
        img_range=1.0, depths=[6] * groups, embed_dim=embed_dim, num_heads=heads, gc=gc,
        mlp_ratio=mlp_ratio, upsampler="pixelshuffle", resi_connection=resi,
    )
    if "absolute_pos_embed" in sd:
        kwargs["ape"] = True
    if "patch_embed.norm.weight" not in sd:
        kwargs["patch_norm"] = False
    if "layers.0.swin1.attn.qkv.bias" not in sd:
        kwargs["qkv_bias"] = False
    return ModelSpec("drct", kwargs, notes)
