"""Architecture detection: read a model's hyperparameters off its state dict's names and shapes.

One function per family (``swinir``, ``swin2sr``, ``swin``, ``swinv2``), each returning the
reference constructor arguments. Values that shapes cannot carry follow the reference
conventions and are listed in :attr:`ModelSpec.notes`:

* ``img_size`` comes from a saved shift mask (``attn_mask`` holds ``(img_size / window)^2``
  windows) or an absolute position embedding; without either it defaults to 64 (SR) or 224.
* ``img_range`` is 255 for window size 7 (the JPEG artifact-removal models) and 1 otherwise,
  the convention of every released SwinIR / Swin2SR model.
* Swin V2 ``pretrained_window_sizes`` are read from the *values* of the saved
  ``relative_coords_table`` buffers (they encode the normalisation); 0 when absent.
* Swin2SR / Swin V2 windows come from ``relative_position_index`` / ``relative_coords_table`` /
  ``attn_mask``; a V2 state dict with none of them (e.g. stripped safetensors) assumes 8.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import torch
import torch.nn as nn

from .archs import ARCH_NAMES, build_model
from .errors import CheckpointError
from .layers import infer_pretrained_window_size

FAMILIES = tuple(ARCH_NAMES)
DERIVED_BUFFERS = ("attn_mask", "relative_position_index", "relative_coords_table")


def is_derived_buffer(key: str) -> bool:
    """True for buffers recomputed from the configuration (never loaded from a file)."""
    return key.rsplit(".", 1)[-1] in DERIVED_BUFFERS


@dataclass
class ModelSpec:
    """What :func:`detect` found: a family and the reference constructor arguments."""

    arch: str
    kwargs: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def type_name(self) -> str:
        """The registry / option-file ``type:`` name (``SwinIR``, ``Swin2SR``, ...)."""
        return ARCH_NAMES[self.arch]

    def build(self) -> nn.Module:
        """Instantiate the model (random weights)."""
        return build_model(self.arch, **self.kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch, "type": self.type_name, "kwargs": dict(self.kwargs), "notes": list(self.notes)}


def _shape(sd: Mapping[str, torch.Tensor], key: str) -> tuple[int, ...]:
    return tuple(sd[key].shape)


def _count(sd: Mapping[str, Any], pattern: str) -> int:
    """Number of distinct integers matched by the ``(\\d+)`` group of ``pattern``."""
    rx = re.compile(pattern)
    found = {int(m.group(1)) for k in sd if (m := rx.match(k))}
    if found and found != set(range(len(found))):
        raise CheckpointError(f"non-contiguous indices for {pattern!r}: {sorted(found)}")
    return len(found)


def _window_from_block(sd: Mapping[str, torch.Tensor], prefix: str) -> int | None:
    """Window side of the block at ``prefix`` (``...blocks.0.``), or None if nothing tells."""
    if prefix + "attn.relative_position_bias_table" in sd:
        rows = _shape(sd, prefix + "attn.relative_position_bias_table")[0]
        return (math.isqrt(rows) + 1) // 2
    if prefix + "attn.relative_position_index" in sd:
        return math.isqrt(_shape(sd, prefix + "attn.relative_position_index")[0])
    if prefix + "attn.relative_coords_table" in sd:
        return (_shape(sd, prefix + "attn.relative_coords_table")[1] + 1) // 2
    if prefix + "attn_mask" in sd:
        return math.isqrt(_shape(sd, prefix + "attn_mask")[1])
    return None


def _heads(sd: Mapping[str, torch.Tensor], prefix: str) -> int:
    if prefix + "attn.logit_scale" in sd:
        return _shape(sd, prefix + "attn.logit_scale")[0]
    return _shape(sd, prefix + "attn.relative_position_bias_table")[1]


def _first_mask_windows(sd: Mapping[str, torch.Tensor], stage_prefix: str) -> int | None:
    rx = re.compile(re.escape(stage_prefix) + r"blocks\.(\d+)\.attn_mask$")
    for k in sd:
        if rx.match(k):
            return _shape(sd, k)[0]
    return None


def _stages(sd, stage_fmt: str) -> tuple[list[int], list[int], list[str]]:
    """Depths, heads and block-0 prefixes of each stage (``stage_fmt`` has ``{i}``)."""
    n = _count(sd, re.escape(stage_fmt.format(i="@")).replace("@", r"(\d+)"))
    depths, heads, firsts = [], [], []
    for i in range(n):
        prefix = stage_fmt.format(i=i)
        depth = _count(sd, re.escape(prefix) + r"blocks\.(\d+)\.")
        if depth == 0:
            raise CheckpointError(f"stage {prefix!r} has no blocks")
        depths.append(depth)
        heads.append(_heads(sd, prefix + "blocks.0."))
        firsts.append(prefix + "blocks.0.")
    return depths, heads, firsts


def _sr_upsampler(sd: Mapping[str, torch.Tensor], in_chans: int) -> tuple[str, int]:
    if "conv_aux.weight" in sd:
        return "pixelshuffle_aux", _pixelshuffle_scale(sd)
    if "conv_up1.weight" in sd:
        return "nearest+conv", 4 if "conv_up2.weight" in sd else 2
    if "conv_before_upsample.0.weight" in sd:
        return "pixelshuffle", _pixelshuffle_scale(sd)
    if "upsample.0.weight" in sd:
        out = _shape(sd, "upsample.0.weight")[0]
        scale = math.isqrt(out // in_chans)
        if scale * scale * in_chans != out:
            raise CheckpointError(f"upsample.0.weight has {out} outputs, not scale^2 x {in_chans} channels")
        return "pixelshuffledirect", scale
    return "", 1


def _pixelshuffle_scale(sd: Mapping[str, torch.Tensor]) -> int:
    scale, k = 1, 0
    while f"upsample.{k}.weight" in sd:
        out, inp = _shape(sd, f"upsample.{k}.weight")[:2]
        factor = math.isqrt(out // inp)
        if factor * factor * inp != out or factor not in (2, 3):
            raise CheckpointError(f"upsample.{k}.weight {list(sd[f'upsample.{k}.weight'].shape)} is not a x2/x3 pixel shuffle")
        scale *= factor
        k += 2
    if scale == 1:
        raise CheckpointError("conv_before_upsample is present but no upsample.N.weight was found")
    return scale


def detect_swin_sr(sd: Mapping[str, torch.Tensor]) -> ModelSpec:
    """SwinIR (V1 blocks) or Swin2SR (V2 blocks, ``logit_scale``)."""
    arch = "swin2sr" if any(k.endswith("attn.logit_scale") for k in sd) else "swinir"
    notes: list[str] = []
    embed_dim, in_chans = _shape(sd, "conv_first.weight")[:2]
    depths, heads, firsts = _stages(sd, "layers.{i}.residual_group.")
    window = next((w for p in firsts if (w := _window_from_block(sd, p)) is not None), None)
    if window is None:
        window = 8
        notes.append("window_size 8 assumed: no relative_position_index / attn_mask in the state dict")
    n_windows = _first_mask_windows(sd, "layers.0.residual_group.")
    if n_windows is not None:
        img_size = math.isqrt(n_windows) * window
    elif "absolute_pos_embed" in sd:
        img_size = math.isqrt(_shape(sd, "absolute_pos_embed")[1])
    else:
        img_size = 64
        notes.append("img_size 64 assumed: no attn_mask saved (it only sizes the training-time mask)")
    mlp_ratio = _shape(sd, firsts[0] + "mlp.fc1.weight")[0] / embed_dim
    if "layers.0.conv.weight" in sd:
        resi = "1conv"
    elif "layers.0.conv.0.weight" in sd:
        resi = "3conv"
    else:
        raise CheckpointError("no residual-group convolution (layers.0.conv) found")
    upsampler, upscale = _sr_upsampler(sd, in_chans)
    img_range = 255.0 if window == 7 else 1.0
    notes.append(f"img_range {img_range:g} by convention for window_size {window}")
    kwargs: dict[str, Any] = dict(
        upscale=upscale, in_chans=in_chans, img_size=img_size, window_size=window, img_range=img_range,
        depths=depths, embed_dim=embed_dim, num_heads=heads, mlp_ratio=_tidy(mlp_ratio),
        upsampler=upsampler, resi_connection=resi,
    )
    if "absolute_pos_embed" in sd:
        kwargs["ape"] = True
    if "patch_embed.norm.weight" not in sd:
        kwargs["patch_norm"] = False
    return ModelSpec(arch, kwargs, notes)


def detect_swin_classifier(sd: Mapping[str, torch.Tensor]) -> ModelSpec:
    """Swin V1 or V2 (``logit_scale``) ImageNet classifier in Microsoft's layout."""
    v2 = any(k.endswith("attn.logit_scale") for k in sd)
    notes: list[str] = []
    embed_dim, in_chans, patch, _ = _shape(sd, "patch_embed.proj.weight")
    depths, heads, firsts = _stages(sd, "layers.{i}.")
    windows = [_window_from_block(sd, p) for p in firsts]
    window = windows[0]
    if window is None:
        window = 8 if v2 else 7
        notes.append(f"window_size {window} assumed: no relative-position buffers in the state dict")
    n_windows = _first_mask_windows(sd, "layers.0.")
    if n_windows is not None:
        img_size = math.isqrt(n_windows) * window * patch
    elif "absolute_pos_embed" in sd:
        img_size = math.isqrt(_shape(sd, "absolute_pos_embed")[1]) * patch
    else:
        img_size = 256 if v2 else 224
        notes.append(f"img_size {img_size} assumed: no attn_mask or absolute_pos_embed saved")
    kwargs: dict[str, Any] = dict(
        img_size=img_size, patch_size=patch, in_chans=in_chans,
        num_classes=_shape(sd, "head.weight")[0] if "head.weight" in sd else 0,
        embed_dim=embed_dim, depths=depths, num_heads=heads, window_size=window,
        mlp_ratio=_tidy(_shape(sd, firsts[0] + "mlp.fc1.weight")[0] / embed_dim),
    )
    if "absolute_pos_embed" in sd:
        kwargs["ape"] = True
    if v2:
        pws = []
        for prefix, w in zip(firsts, windows):
            key = prefix + "attn.relative_coords_table"
            found = infer_pretrained_window_size(sd[key], w) if key in sd and w else 0
            if found is None:
                notes.append(f"{key} matches no window normalisation; pretrained window 0 assumed")
                found = 0
            pws.append(found)
        if any(pws):
            # A stage whose pretrained window equals its own window normalises identically with
            # 0; in a model fine-tuned from smaller windows, report the value it was built with.
            pws = [p or (w or 0) for p, w in zip(pws, windows)]
        kwargs["pretrained_window_sizes"] = pws
    return ModelSpec("swinv2" if v2 else "swin", kwargs, notes)


def _tidy(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


def detect(state_dict: Mapping[str, Any]) -> ModelSpec:
    """Identify the architecture and constructor arguments of a (reference-layout) state dict.

    Accepts the unwrapped state dict (see :func:`swinsr.checkpoint.unwrap_state_dict`); foreign
    layouts (Hugging Face, ``module.`` prefixes) are converted first by
    :func:`swinsr.convert.checkpoint_filter_fn`. Raises :class:`~swinsr.errors.CheckpointError`
    when the keys match no supported family.
    """
    from .convert import checkpoint_filter_fn

    sd = checkpoint_filter_fn(state_dict)
    try:
        if "conv_first.weight" in sd and any(k.startswith("layers.0.residual_group.") for k in sd):
            return detect_swin_sr(sd)
        if "patch_embed.proj.weight" in sd and any(k.startswith("layers.0.blocks.") for k in sd):
            return detect_swin_classifier(sd)
    except KeyError as exc:
        raise CheckpointError(f"incomplete state dict: missing {exc.args[0]!r}") from None
    sample = ", ".join(list(sd)[:4]) or "(no tensors)"
    raise CheckpointError(f"not a SwinIR, Swin2SR, Swin or SwinV2 state dict (first keys: {sample})")
