"""Hugging Face transformers state-dict layouts (conversion to the reference layout)."""

from __future__ import annotations

from typing import Mapping

import torch

_HF_ROOTS = ("swin2sr.", "swin.", "swinv2.")


def is_hf_state_dict(sd: Mapping[str, torch.Tensor]) -> bool:
    """True when the keys are in a transformers layout."""
    return any(k.startswith(_HF_ROOTS) for k in sd)


def convert_hf_state_dict(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    raise NotImplementedError("Hugging Face conversion is being written")
