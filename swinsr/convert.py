"""The one place where foreign checkpoint layouts become the reference layout.

Everything that reads weights (``load_model``, ``detect``, training's ``pretrain_network_g``)
passes state dicts through :func:`checkpoint_filter_fn`.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

_WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DataParallel/DDP and torch.compile wrappers


def _strip_wrappers(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for p in _WRAPPER_PREFIXES:
            if key.startswith(p):
                key, changed = key[len(p) :], True
    return key


def checkpoint_filter_fn(state_dict: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Return ``state_dict`` in the reference SwinIR / Swin2SR / Microsoft Swin layout.

    Strips ``module.`` / ``_orig_mod.`` wrappers and converts Hugging Face transformers
    layouts (``Swin2SRForImageSuperResolution``, ``SwinForImageClassification``,
    ``Swinv2ForImageClassification``). Reference-layout input is returned unchanged.
    """
    from .hf import convert_hf_state_dict, is_hf_state_dict

    sd = {_strip_wrappers(k): v for k, v in state_dict.items() if isinstance(v, torch.Tensor)}
    if is_hf_state_dict(sd):
        sd = convert_hf_state_dict(sd)
    return sd
