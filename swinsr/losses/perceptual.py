"""BasicSR-compatible perceptual (and style) loss on VGG19 features."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import OptionError
from .registry import LOSS_REGISTRY
from .vgg import VGG19Features

CRITERIA = ("l1", "l2", "fro")


def gram_matrix(x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    f = x.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


@LOSS_REGISTRY.register()
class PerceptualLoss(nn.Module):
    """``perceptual_weight * sum_l w_l * criterion(vgg_l(pred), vgg_l(gt))`` plus an optional Gram-matrix style term.

    Args:
        layer_weights: e.g. ``{'conv5_4': 1.0}`` (ESRGAN) — BasicSR layer names.
        vgg_weights: local torchvision ``vgg19`` state-dict file (required; never downloaded).
        vgg_type: only ``'vgg19'``.
        use_input_norm, range_norm: input normalisation as in BasicSR.
        perceptual_weight, style_weight: ``0`` disables that term (``forward`` returns ``None`` for it).
        criterion: ``'l1'``, ``'l2'`` or ``'fro'``.
    """

    def __init__(
        self,
        layer_weights: Mapping[str, float],
        vgg_weights: str | None = None,
        vgg_type: str = "vgg19",
        use_input_norm: bool = True,
        range_norm: bool = False,
        perceptual_weight: float = 1.0,
        style_weight: float = 0.0,
        criterion: str = "l1",
    ):
        super().__init__()
        if vgg_type != "vgg19":
            raise OptionError(f"vgg_type: {vgg_type!r} is not supported; allowed: vgg19")
        if criterion not in CRITERIA:
            raise OptionError(f"criterion: {criterion!r} is not allowed; allowed: {', '.join(CRITERIA)}")
        if not vgg_weights:
            raise OptionError("vgg_weights: missing; give the path of torchvision's vgg19 weights file (swinsr never downloads them)")
        self.layer_weights = {k: float(v) for k, v in layer_weights.items()}
        self.vgg = VGG19Features(self.layer_weights, vgg_weights, use_input_norm, range_norm)
        self.perceptual_weight = float(perceptual_weight)
        self.style_weight = float(style_weight)
        self.criterion = criterion

    def _dist(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if self.criterion == "l1":
            return F.l1_loss(a, b)
        if self.criterion == "l2":
            return F.mse_loss(a, b)
        return torch.linalg.vector_norm(a - b)

    def forward(self, pred: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        feats = self.vgg(pred)
        with torch.no_grad():
            gt_feats = self.vgg(gt.detach())
        percep = style = None
        if self.perceptual_weight > 0:
            percep = sum(self._dist(feats[k], gt_feats[k]) * w for k, w in self.layer_weights.items()) * self.perceptual_weight
        if self.style_weight > 0:
            style = sum(self._dist(gram_matrix(feats[k]), gram_matrix(gt_feats[k])) * w for k, w in self.layer_weights.items()) * self.style_weight
        return percep, style  # type: ignore[return-value]

    def train(self, mode: bool = True) -> "PerceptualLoss":
        super().train(mode)
        self.vgg.eval()  # frozen feature extractor
        return self


def check_perceptual_options(opt: Mapping[str, Any], where: str) -> None:
    """Fail before training on a bad ``perceptual_opt`` (type, arguments, missing weights file)."""
    if opt.get("type") != "PerceptualLoss":
        raise OptionError(f"{where}.type: expected PerceptualLoss, got {opt.get('type')!r}")
    params = inspect.signature(PerceptualLoss.__init__).parameters
    unknown = [k for k in opt if k != "type" and k not in params]
    if unknown:
        allowed = ", ".join(p for p in params if p != "self")
        raise OptionError(f"{where}: unknown option(s) {', '.join(unknown)}; allowed: {allowed}")
    if not isinstance(opt.get("layer_weights"), Mapping) or not opt["layer_weights"]:
        raise OptionError(f"{where}.layer_weights: expected a mapping like {{conv5_4: 1.0}}")
    w = opt.get("vgg_weights")
    if not w:
        raise OptionError(f"{where}.vgg_weights: missing; give the path of torchvision's vgg19 weights file (never downloaded)")
    from ..train.schema import paths_checked  # late: keeps the losses free of training imports at load

    if paths_checked() and not Path(w).is_file():
        raise OptionError(f"{where}.vgg_weights: file not found: {w} (torchvision's vgg19 state dict, e.g. vgg19-dcbb9e9d.pth)")
