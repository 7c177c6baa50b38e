"""Swin V1 / V2 classifier detection (Microsoft's layout): constructor arguments from shapes.

* ``img_size`` comes from a saved shift mask or an absolute position embedding; else 224 (V1) / 256 (V2).
* V2 ``pretrained_window_sizes`` are read from the *values* of the saved ``relative_coords_table``
  buffers (they encode the normalisation); 0 when absent.
* A V2 state dict without any relative-position buffer (e.g. stripped safetensors) assumes window 8.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch

from ...layers import infer_pretrained_window_size
from ..detect_utils import first_mask_windows, shape, swin_stages, tidy, window_from_block
from ..spec import ModelSpec


def detect_swin_classifier(sd: Mapping[str, torch.Tensor], version: int | None = None) -> ModelSpec | None:
    """Swin V1 or V2 (``logit_scale``) ImageNet classifier in Microsoft's layout; None for others."""
    if "patch_embed.proj.weight" not in sd or not any(k.startswith("layers.0.blocks.") for k in sd):
        return None
    v2 = any(k.endswith("attn.logit_scale") for k in sd)
    if version is not None and (2 if v2 else 1) != version:
        return None
    notes: list[str] = []
    embed_dim, in_chans, patch, _ = shape(sd, "patch_embed.proj.weight")
    depths, heads, firsts = swin_stages(sd, "layers.{i}.")
    windows = [window_from_block(sd, p) for p in firsts]
    window = windows[0]
    if window is None:
        window = 8 if v2 else 7
        notes.append(f"window_size {window} assumed: no relative-position buffers in the state dict")
    n_windows = first_mask_windows(sd, "layers.0.")
    if n_windows is not None:
        img_size = math.isqrt(n_windows) * window * patch
    elif "absolute_pos_embed" in sd:
        img_size = math.isqrt(shape(sd, "absolute_pos_embed")[1]) * patch
    else:
        img_size = 256 if v2 else 224
        notes.append(f"img_size {img_size} assumed: no attn_mask or absolute_pos_embed saved")
    kwargs: dict[str, Any] = dict(
        img_size=img_size, patch_size=patch, in_chans=in_chans,
        num_classes=shape(sd, "head.weight")[0] if "head.weight" in sd else 0,
        embed_dim=embed_dim, depths=depths, num_heads=heads, window_size=window,
        mlp_ratio=tidy(shape(sd, firsts[0] + "mlp.fc1.weight")[0] / embed_dim),
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


def detect_swin(sd: Mapping[str, torch.Tensor]) -> ModelSpec | None:
    """Swin V1 classifier or None."""
    return detect_swin_classifier(sd, version=1)


def detect_swinv2(sd: Mapping[str, torch.Tensor]) -> ModelSpec | None:
    """Swin V2 classifier or None."""
    return detect_swin_classifier(sd, version=2)
