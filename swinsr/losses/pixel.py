"""Pixel losses with BasicSR's option names: ``loss_weight`` and ``reduction``."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import OptionError
from .registry import LOSS_REGISTRY

REDUCTIONS = ("none", "mean", "sum")


class WeightedLoss(nn.Module):
    """Base: ``loss_weight * reduce(elementwise(pred, target))``."""

    def __init__(self, loss_weight: float = 1.0, reduction: str = "mean"):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise OptionError(f"reduction: {reduction!r} is not allowed; allowed: {', '.join(REDUCTIONS)}")
        self.loss_weight = float(loss_weight)
        self.reduction = reduction

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        loss = self.elementwise(pred, target)
        if weight is not None:
            loss = loss * weight
        if self.reduction == "mean":
            loss = loss.mean()
        elif self.reduction == "sum":
            loss = loss.sum()
        return self.loss_weight * loss


@LOSS_REGISTRY.register()
class L1Loss(WeightedLoss):
    """Mean absolute error (the SwinIR training loss)."""

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.l1_loss(pred, target, reduction="none")


@LOSS_REGISTRY.register()
class MSELoss(WeightedLoss):
    """Mean squared error."""

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(pred, target, reduction="none")


@LOSS_REGISTRY.register()
class CharbonnierLoss(WeightedLoss):
    """``sqrt((pred - target)^2 + eps^2)``, a smooth L1 (used by SwinIR for denoising and JPEG CAR)."""

    def __init__(self, loss_weight: float = 1.0, reduction: str = "mean", eps: float = 1e-12):
        super().__init__(loss_weight, reduction)
        self.eps = float(eps)

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.sqrt((pred - target) ** 2 + self.eps * self.eps)


@LOSS_REGISTRY.register()
class CrossEntropyLoss(nn.Module):
    """Classification cross-entropy on logits, with optional ``label_smoothing`` (Swin's recipe: 0.1)."""

    def __init__(self, loss_weight: float = 1.0, label_smoothing: float = 0.0, reduction: str = "mean"):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise OptionError(f"reduction: {reduction!r} is not allowed; allowed: {', '.join(REDUCTIONS)}")
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise OptionError(f"label_smoothing: must be in [0, 1), got {label_smoothing}")
        self.loss_weight = float(loss_weight)
        self.label_smoothing = float(label_smoothing)
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * F.cross_entropy(logits, target, label_smoothing=self.label_smoothing, reduction=self.reduction)
