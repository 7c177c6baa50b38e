"""DAT detection: the reference constructor arguments from state-dict names and shapes.

A DAT state dict is recognised by ``before_RG.1.weight`` (the LayerNorm after its token
rearrange), which no other family has; everything else is read as follows:

* ``embed_dim`` / ``in_chans``: ``conv_first.weight``; ``depth``: blocks per ``layers.i``;
  ``num_heads``: the channel block's ``temperature`` (block 1); a one-block group only has a
  spatial block, whose position MLP gives ``num_heads // 2`` (assumed even, noted).
* ``split_size``: the window ``H_sp * W_sp`` is the side of ``relative_position_index`` and
  ``(2 H_sp - 1)(2 W_sp - 1)`` the rows of ``rpe_biases``, which fixes the pair but not its
  order (swapping it swaps the two halves' windows; shapes are identical). The *values* of a
  saved ``rpe_biases`` tell the order; without them (random tensors, stripped files) the
  released convention, smaller side first, is assumed and noted.
* ``expansion_factor``: ``ffn.fc1`` width / ``embed_dim``; ``qkv_bias``: ``attn.qkv.bias``;
  ``resi_connection``: ``layers.0.conv.weight`` (1conv) or ``layers.0.conv.0.weight`` (3conv);
  ``upsampler`` / ``upscale``: ``conv_before_upsample`` + ``upsample.*`` or one ``upsample.0``.
* ``img_size``: a saved ``attn_mask_0`` holds ``img_size^2 / (H_sp W_sp)`` windows; without one
  64 is assumed (it only sizes those buffers).
* ``img_range``: 1 (every released DAT model), assumed and noted.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

import torch

from ...errors import CheckpointError
from ...layers.dat import rect_relative_offsets
from ..detect_utils import count_indices, pixelshuffle_scale, shape, tidy
from ..spec import ModelSpec

_BLOCK = (
    r"layers\.\d+\.blocks\.\d+\.(?:norm1|norm2|ffn\.(?:fc1|fc2|sg\.norm|sg\.conv)"
    r"|attn\.(?:qkv|proj|temperature|attn_mask_[01]|attns\.[01]\.(?:pos|rpe_biases|relative_position_index)"
    r"|dwconv|channel_interaction|spatial_interaction))"
)
_OWN_KEY = re.compile(
    rf"(?:{_BLOCK}|layers\.\d+\.conv|conv_first|before_RG\.1|norm|conv_after_body|conv_before_upsample|upsample|conv_last)(?:\.|$)"
)


def is_dat_layout(sd: Mapping[str, Any]) -> bool:
    """True when the state dict has DAT's signature keys (``before_RG.1`` and DAT blocks)."""
    return "before_RG.1.weight" in sd and any(k.startswith("layers.0.blocks.0.") for k in sd)


def _split_size(sd: Mapping[str, torch.Tensor], attn: str, notes: list[str]) -> list[int]:
    """``[H_sp, W_sp]`` from the first spatial block's derived buffers (see module doc)."""
    index, offsets = attn + "attns.0.relative_position_index", attn + "attns.0.rpe_biases"
    if index not in sd or offsets not in sd:
        mask = attn + "attn_mask_0"
        n = shape(sd, mask)[1] if mask in sd else None
        notes.append(f"split_size [8, 32] assumed: no {index!r} / {offsets!r} in the file (released DAT models)")
        if n is not None and n != 256:
            raise CheckpointError(f"cannot tell split_size: {index!r} and {offsets!r} are missing (windows of {n} tokens)")
        return [8, 32]
    n, rows = shape(sd, index)[0], shape(sd, offsets)[0]
    total = 4 * n + 1 - rows  # = 2 (H_sp + W_sp)
    disc = (total // 2) ** 2 - 4 * n
    root = math.isqrt(max(disc, 0))
    h, w = (total // 2 - root) // 2, (total // 2 + root) // 2
    if total % 2 or root * root != disc or h < 1 or h * w != n:
        raise CheckpointError(f"{index} {shape(sd, index)} and {offsets} {shape(sd, offsets)} are not a rectangle window")
    values = sd[offsets].detach().float().cpu()
    if h != w and torch.equal(values, rect_relative_offsets(w, h)):
        return [w, h]
    if h != w and not torch.equal(values, rect_relative_offsets(h, w)):
        notes.append(f"split_size [{h}, {w}] assumed: the order of the {h}x{w} window is only in rpe_biases values (smaller first)")
    return [h, w]


def _heads(sd: Mapping[str, torch.Tensor], group: str, notes: list[str]) -> int:
    temperature = group + "blocks.1.attn.temperature"
    if temperature in sd:
        return shape(sd, temperature)[0]
    half = shape(sd, group + "blocks.0.attn.attns.0.pos.pos3.2.weight")[0]
    notes.append(f"num_heads of {group.rstrip('.')} assumed {2 * half}: no channel block (twice the spatial heads)")
    return 2 * half


def _img_size(sd: Mapping[str, torch.Tensor], split: list[int], notes: list[str]) -> int:
    rx = re.compile(r"layers\.\d+\.blocks\.\d+\.attn\.attn_mask_0$")
    for key in sd:
        if rx.match(key):
            windows, n = shape(sd, key)[:2]
            size = math.isqrt(windows * n)
            if size * size != windows * n or n != split[0] * split[1]:
                raise CheckpointError(f"{key} {list(sd[key].shape)} is not a square map of {split[0]}x{split[1]} windows")
            return size
    notes.append("img_size 64 assumed: no saved shift mask (it only sizes the derived mask buffers)")
    return 64


def _expansion(hidden: int, dim: int) -> float | int:
    """The simplest ``expansion_factor`` with ``int(dim * factor) == hidden`` (the reference floors)."""
    ratio = hidden / dim
    for factor in (tidy(round(ratio, 2)), round(ratio, 4), ratio, (hidden + 0.5) / dim):
        if int(dim * factor) == hidden:
            return factor
    raise CheckpointError(f"ffn.fc1 width {hidden} is not int({dim} * expansion_factor) for any factor")


def _head(sd: Mapping[str, torch.Tensor], in_chans: int) -> tuple[str, int]:
    if "conv_before_upsample.0.weight" in sd:
        return "pixelshuffle", pixelshuffle_scale(sd)
    out = shape(sd, "upsample.0.weight")[0]
    scale = math.isqrt(out // in_chans)
    if scale < 1 or scale * scale * in_chans != out:
        raise CheckpointError(f"upsample.0.weight has {out} outputs, not scale^2 x {in_chans} channels")
    return "pixelshuffledirect", scale


def detect_dat(sd: Mapping[str, torch.Tensor]) -> ModelSpec | None:
    """``ModelSpec('dat', kwargs, notes)`` for a DAT state dict, ``None`` for any other layout.

    A state dict with DAT's signature but missing or foreign entries is a
    :class:`~swinsr.errors.CheckpointError` naming them.
    """
    if not is_dat_layout(sd):
        return None
    foreign = [k for k in sd if not _OWN_KEY.match(k)]
    if foreign:
        raise CheckpointError(f"DAT state dict with unexpected entries: {', '.join(foreign[:5])}")
    notes: list[str] = []
    embed_dim, in_chans = shape(sd, "conv_first.weight")[:2]
    groups = count_indices(sd, r"layers\.(\d+)\.blocks\.")
    depth = [count_indices(sd, rf"layers\.{i}\.blocks\.(\d+)\.") for i in range(groups)]
    if 0 in depth:
        raise CheckpointError(f"DAT residual group layers.{depth.index(0)} has no blocks")
    heads = [_heads(sd, f"layers.{i}.", notes) for i in range(groups)]
    split = _split_size(sd, "layers.0.blocks.0.attn.", notes)
    hidden = shape(sd, "layers.0.blocks.0.ffn.fc1.weight")[0]
    if "layers.0.conv.weight" in sd:
        resi = "1conv"
    elif "layers.0.conv.0.weight" in sd:
        resi = "3conv"
    else:
        raise CheckpointError("incomplete DAT state dict: missing 'layers.0.conv.weight' (1conv) or 'layers.0.conv.0.weight' (3conv)")
    upsampler, upscale = _head(sd, in_chans)
    kwargs: dict[str, Any] = {
        "in_chans": in_chans,
        "img_size": _img_size(sd, split, notes),
        "img_range": 1.0,
        "depth": depth,
        "embed_dim": embed_dim,
        "num_heads": heads,
        "resi_connection": resi,
        "upsampler": upsampler,
        "upscale": upscale,
        "split_size": split,
        "expansion_factor": _expansion(hidden, embed_dim),
    }
    if "layers.0.blocks.0.attn.qkv.bias" not in sd:
        kwargs["qkv_bias"] = False
    notes.append("img_range 1.0 assumed (all released DAT models)")
    return ModelSpec("dat", kwargs, notes)
