"""HAT detection: the reference constructor arguments from state-dict names and shapes.

A HAT state dict is claimed by its own modules: the model-level ``relative_position_index_OCA``
or the residual groups' ``overlap_attn`` (OCAB) and the blocks' ``conv_block`` (CAB). What the
shapes tell exactly: ``embed_dim``, ``in_chans``, ``depths``, ``num_heads``, ``window_size``
(``relative_position_index_SA`` or the bias tables), ``overlap_ratio`` (the OCAB bias table
has ``(ws + ows - 1)^2`` rows; reported as ``(ows - ws) / ws``), ``compress_ratio`` and
``squeeze_factor`` (the CAB bottlenecks; reported as the largest ratio giving those widths, the
network only uses the quotient), ``mlp_ratio``, ``upscale``, ``resi_connection``,
``qkv_bias``, ``patch_norm``, ``ape``. Assumed, and listed in the notes: ``conv_scale`` 0.01
and ``img_range`` 1 (every released HAT model), ``img_size`` 64 (it only decides whether
windows shrink for tiny training patches; an absolute position embedding gives it exactly).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch

from ...errors import CheckpointError
from ..detect_utils import has_prefix, pixelshuffle_scale, shape, swin_stages, tidy
from ..spec import ModelSpec

_OCAB = "layers.0.residual_group.overlap_attn."
_CAB = "layers.0.residual_group.blocks.0.conv_block."


def is_hat_layout(sd: Mapping[str, Any]) -> bool:
    """True for HAT's own module names (OCAB, CAB or the model-level OCA index)."""
    return "relative_position_index_OCA" in sd or (has_prefix(sd, _OCAB) and has_prefix(sd, _CAB))


def _ratio(dim: int, width: int, key: str) -> int:
    """The reference ratio ``r`` with ``dim // r == width`` (the largest such; all behave alike)."""
    if width < 1 or width > dim:
        raise CheckpointError(f"{key} has {width} channels, not a bottleneck of {dim}")
    return dim // width


def detect_hat(sd: Mapping[str, torch.Tensor]) -> ModelSpec | None:
    """HAT's :class:`~swinsr.archs.spec.ModelSpec`, or None when ``sd`` is not a HAT layout."""
    if not is_hat_layout(sd):
        return None
    for needed in (_OCAB + "relative_position_bias_table", _CAB + "cab.0.weight", "conv_first.weight"):
        shape(sd, needed)  # a clear "missing 'key'" error for truncated files
    notes: list[str] = []
    embed_dim, in_chans = shape(sd, "conv_first.weight")[:2]
    depths, heads, firsts = swin_stages(sd, "layers.{i}.residual_group.")

    if "relative_position_index_SA" in sd:
        window = math.isqrt(shape(sd, "relative_position_index_SA")[0])
    else:
        window = (math.isqrt(shape(sd, firsts[0] + "attn.relative_position_bias_table")[0]) + 1) // 2
    rows = shape(sd, _OCAB + "relative_position_bias_table")[0]
    overlap_win = math.isqrt(rows) - window + 1
    if (window + overlap_win - 1) ** 2 != rows or overlap_win < window:
        raise CheckpointError(f"{_OCAB}relative_position_bias_table has {rows} rows: no overlapping window fits window_size {window}")
    overlap_ratio = tidy((overlap_win - window) / window)

    compress_ratio = _ratio(embed_dim, shape(sd, _CAB + "cab.0.weight")[0], _CAB + "cab.0.weight")
    squeeze_key = _CAB + "cab.3.attention.1.weight"
    squeeze_factor = _ratio(embed_dim, shape(sd, squeeze_key)[0], squeeze_key)
    mlp_ratio = tidy(shape(sd, firsts[0] + "mlp.fc1.weight")[0] / embed_dim)

    if "conv_before_upsample.0.weight" not in sd:
        raise CheckpointError(
            "HAT state dict without conv_before_upsample.0.weight: only the 'pixelshuffle' head exists in HAT"
        )
    upscale = pixelshuffle_scale(sd)
    resi = "1conv" if "layers.0.conv.weight" in sd else "identity"
    if ("conv_after_body.weight" in sd) != (resi == "1conv"):
        raise CheckpointError("layers.0.conv and conv_after_body disagree on resi_connection ('1conv' needs both)")

    if "absolute_pos_embed" in sd:
        img_size = math.isqrt(shape(sd, "absolute_pos_embed")[1])
    else:
        img_size = 64
        notes.append("img_size 64 assumed (not stored; it only matters for training patches <= window_size)")
    notes.append("conv_scale 0.01 assumed (a scalar, not stored; every released HAT uses it)")
    notes.append("img_range 1 assumed (not stored; every released HAT uses it)")
    kwargs: dict[str, Any] = dict(
        upscale=upscale, in_chans=in_chans, img_size=img_size, window_size=window,
        compress_ratio=compress_ratio, squeeze_factor=squeeze_factor, conv_scale=0.01,
        overlap_ratio=overlap_ratio, img_range=1.0, depths=depths, embed_dim=embed_dim,
        num_heads=heads, mlp_ratio=mlp_ratio, upsampler="pixelshuffle", resi_connection=resi,
    )
    if "absolute_pos_embed" in sd:
        kwargs["ape"] = True
    if "patch_embed.norm.weight" not in sd:
        kwargs["patch_norm"] = False
    if firsts[0] + "attn.qkv.bias" not in sd:
        kwargs["qkv_bias"] = False
    return ModelSpec("hat", kwargs, notes)
