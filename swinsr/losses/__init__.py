"""Training losses registered by option-file ``type:``: L1, MSE, Charbonnier, VGG19 perceptual, GAN."""

from __future__ import annotations

from typing import Any, Mapping

import torch.nn as nn

from .gan import GANLoss
from .pixel import CharbonnierLoss, CrossEntropyLoss, L1Loss, MSELoss, WeightedLoss
from .perceptual import PerceptualLoss
from .registry import LOSS_REGISTRY
from .vgg import VGG19Features


def build_loss(opt: Mapping[str, Any], where: str) -> nn.Module:
    """Build ``LOSS_REGISTRY[opt['type']](**rest)``; bad types or arguments raise :class:`OptionError` naming ``where``."""
    return LOSS_REGISTRY.build_from_options(opt, where)


__all__ = ["LOSS_REGISTRY", "CharbonnierLoss", "CrossEntropyLoss", "GANLoss", "L1Loss", "MSELoss", "PerceptualLoss", "VGG19Features", "WeightedLoss", "build_loss"]
