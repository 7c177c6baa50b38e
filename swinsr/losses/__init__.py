"""Training losses registered by option-file ``type:``: L1, MSE, Charbonnier, VGG19 perceptual."""

from __future__ import annotations

import inspect
from typing import Any, Mapping

import torch.nn as nn

from ..errors import OptionError
from .pixel import CharbonnierLoss, CrossEntropyLoss, L1Loss, MSELoss, WeightedLoss
from .perceptual import PerceptualLoss
from .registry import LOSS_REGISTRY
from .vgg import VGG19Features


def build_loss(opt: Mapping[str, Any], where: str) -> nn.Module:
    """Build ``LOSS_REGISTRY[opt['type']](**rest)``; bad types or arguments raise :class:`OptionError` naming ``where``."""
    if not isinstance(opt, Mapping) or "type" not in opt:
        raise OptionError(f"{where}.type: missing; allowed: {', '.join(LOSS_REGISTRY.keys())}")
    kwargs = {k: v for k, v in opt.items() if k != "type"}
    try:
        cls = LOSS_REGISTRY.get(opt["type"])
    except KeyError as exc:
        raise OptionError(f"{where}.type: {exc.args[0]}") from None
    params = inspect.signature(cls.__init__).parameters
    unknown = [k for k in kwargs if k not in params]
    if unknown:
        allowed = ", ".join(p for p in params if p != "self")
        raise OptionError(f"{where}: unknown option(s) {', '.join(unknown)} for {opt['type']}; allowed: {allowed}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise OptionError(f"{where}: {exc}") from None


__all__ = ["LOSS_REGISTRY", "CharbonnierLoss", "CrossEntropyLoss", "L1Loss", "MSELoss", "PerceptualLoss", "VGG19Features", "WeightedLoss", "build_loss"]
