"""SwinIR / Swin2SR detection: the reference constructor arguments from state-dict names and shapes.

Values that shapes cannot carry follow the reference conventions and are listed in the notes:

* ``img_size`` comes from a saved shift mask (``attn_mask`` holds ``(img_size / window)^2``
  windows) or an absolute position embedding; without either it defaults to 64.
* ``img_range`` is 255 for window size 7 (the JPEG artifact-removal models) and 1 otherwise,
  the convention of every released SwinIR / Swin2SR model.
* Swin2SR windows come from ``relative_position_index`` / ``relative_coords_table`` /
  ``attn_mask``; a state dict with none of them (e.g. stripped safetensors) assumes 8.

Only state dicts made entirely of SwinIR / Swin2SR module names are claimed, so layouts that
extend them (HAT's conv branch and overlapping attention, DRCT's dense groups) are left to
their own families.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

import torch

from ...errors import CheckpointError
from ..detect_utils import first_mask_windows, pixelshuffle_scale, shape, swin_stages, tidy, window_from_block
from ..spec import ModelSpec

_BLOCK = r"layers\.\d+\.residual_group\.blocks\.\d+\.(norm1|norm2|attn|mlp|attn_mask)"
_GROUP = r"layers\.\d+\.(conv|patch_embed)"
_HEAD = (
    r"conv_first|patch_embed|absolute_pos_embed|norm|conv_after_body|conv_before_upsample|upsample|conv_last"
    r"|conv_up1|conv_up2|conv_hr|conv_bicubic|conv_aux|conv_after_aux"
)
_OWN_KEY = re.compile(rf"(?:{_BLOCK}|{_GROUP}|(?:{_HEAD}))(?:\.|$)")


def is_swin_sr_layout(sd: Mapping[str, Any]) -> bool:
    """True when every key is a SwinIR / Swin2SR module name (and the body is there)."""
    if "conv_first.weight" not in sd or not any(k.startswith("layers.0.residual_group.blocks.0.") for k in sd):
        return False
    return all(_OWN_KEY.match(k) for k in sd)


def sr_upsampler(sd: Mapping[str, torch.Tensor], in_chans: int) -> tuple[str, int]:
    """The reference ``upsampler`` and scale of a SwinIR-style reconstruction head."""
    if "conv_aux.weight" in sd:
        return "pixelshuffle_aux", pixelshuffle_scale(sd)
    if "conv_up1.weight" in sd:
        return "nearest+conv", 4 if "conv_up2.weight" in sd else 2
    if "conv_before_upsample.0.weight" in sd:
        return "pixelshuffle", pixelshuffle_scale(sd)
    if "upsample.0.weight" in sd:
        out = shape(sd, "upsample.0.weight")[0]
        scale = math.isqrt(out // in_chans)
        if scale * scale * in_chans != out:
            raise CheckpointError(f"upsample.0.weight has {out} outputs, not scale^2 x {in_chans} channels")
        return "pixelshuffledirect", scale
    return "", 1


def detect_swin_sr(sd: Mapping[str, torch.Tensor], version: int | None = None) -> ModelSpec | None:
    """SwinIR (V1 blocks) or Swin2SR (V2 blocks, ``logit_scale``); None for other layouts.

    ``version`` restricts the claim to one of the two (the families register one each).
    """
    if not is_swin_sr_layout(sd):
        return None
    found = 2 if any(k.endswith("attn.logit_scale") for k in sd) else 1
    if version is not None and found != version:
        return None
    arch = "swin2sr" if found == 2 else "swinir"
    notes: list[str] = []
    embed_dim, in_chans = shape(sd, "conv_first.weight")[:2]
    depths, heads, firsts = swin_stages(sd, "layers.{i}.residual_group.")
    window = next((w for p in firsts if (w := window_from_block(sd, p)) is not None), None)
    if window is None:
        window = 8
        notes.append("window_size 8 assumed: no relative_position_index / attn_mask in the state dict")
    n_windows = first_mask_windows(sd, "layers.0.residual_group.")
    if n_windows is not None:
        img_size = math.isqrt(n_windows) * window
    elif "absolute_pos_embed" in sd:
        img_size = math.isqrt(shape(sd, "absolute_pos_embed")[1])
    else:
        img_size = 64
        notes.append("img_size 64 assumed: no attn_mask saved (it only sizes the training-time mask)")
    mlp_ratio = shape(sd, firsts[0] + "mlp.fc1.weight")[0] / embed_dim
    if "layers.0.conv.weight" in sd:
        resi = "1conv"
    elif "layers.0.conv.0.weight" in sd:
        resi = "3conv"
    else:
        raise CheckpointError("no residual-group convolution (layers.0.conv) found")
    upsampler, upscale = sr_upsampler(sd, in_chans)
    img_range = 255.0 if window == 7 else 1.0
    notes.append(f"img_range {img_range:g} by convention for window_size {window}")
    kwargs: dict[str, Any] = dict(
        upscale=upscale, in_chans=in_chans, img_size=img_size, window_size=window, img_range=img_range,
        depths=depths, embed_dim=embed_dim, num_heads=heads, mlp_ratio=tidy(mlp_ratio),
        upsampler=upsampler, resi_connection=resi,
    )
    if "absolute_pos_embed" in sd:
        kwargs["ape"] = True
    if "patch_embed.norm.weight" not in sd:
        kwargs["patch_norm"] = False
    bias_key = firsts[0] + ("attn.q_bias" if found == 2 else "attn.qkv.bias")
    if bias_key not in sd:
        kwargs["qkv_bias"] = False
    return ModelSpec(arch, kwargs, notes)


def detect_swinir(sd: Mapping[str, torch.Tensor]) -> ModelSpec | None:
    """SwinIR (Swin V1 blocks) or None."""
    return detect_swin_sr(sd, version=1)


def detect_swin2sr(sd: Mapping[str, torch.Tensor]) -> ModelSpec | None:
    """Swin2SR (Swin V2 blocks) or None."""
    return detect_swin_sr(sd, version=2)
