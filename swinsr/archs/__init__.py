"""Model architectures, registered by the names used in option files' ``type:`` keys."""

from typing import Any

import torch.nn as nn

from .classifier import SwinClassifierBase, SwinTransformer, SwinTransformerV2
from .registry import ARCH_REGISTRY
from .sr import Swin2SR, SwinIR, SwinSRBase

ARCH_NAMES = {"swinir": "SwinIR", "swin2sr": "Swin2SR", "swin": "SwinTransformer", "swinv2": "SwinTransformerV2"}


def build_model(arch: str, **kwargs: Any) -> nn.Module:
    """Build ``arch`` (a registry name like ``'SwinIR'`` or a family like ``'swinir'``) from kwargs."""
    return ARCH_REGISTRY.build(ARCH_NAMES.get(arch, arch), **kwargs)


__all__ = [
    "ARCH_NAMES",
    "ARCH_REGISTRY",
    "Swin2SR",
    "SwinClassifierBase",
    "SwinIR",
    "SwinSRBase",
    "SwinTransformer",
    "SwinTransformerV2",
    "build_model",
]
