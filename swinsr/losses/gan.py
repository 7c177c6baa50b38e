"""Adversarial loss with BasicSR's ``gan_opt`` semantics (``type: GANLoss``)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .registry import LOSS_REGISTRY

GAN_TYPES = ("vanilla", "lsgan", "wgan", "wgan_softplus", "hinge")


@LOSS_REGISTRY.register()
class GANLoss(nn.Module):
    """``forward(pred, target_is_real, is_disc=False)`` -> the mean adversarial loss of ``pred``.

    ``gan_type``:

    * ``vanilla``: binary cross-entropy on logits against ``real_label_val`` / ``fake_label_val``;
    * ``lsgan``: mean squared error against the same labels;
    * ``wgan``: ``-mean(pred)`` for real, ``mean(pred)`` for fake;
    * ``wgan_softplus``: ``mean(softplus(-pred))`` for real, ``mean(softplus(pred))`` for fake
      (StyleGAN2's logistic / non-saturating loss);
    * ``hinge``: for the discriminator ``mean(relu(1 - pred))`` (real) / ``mean(relu(1 + pred))``
      (fake); for the generator ``-mean(pred)`` whatever the target.

    ``loss_weight`` scales the generator's loss only (``is_disc=False``); the discriminator's loss
    is always unweighted, as in BasicSR. The labels are ignored by the wgan types and hinge.
    """

    def __init__(self, gan_type: str, real_label_val: float = 1.0, fake_label_val: float = 0.0, loss_weight: float = 1.0):
        super().__init__()
        if gan_type not in GAN_TYPES:
            # ValueError: the option builder prefixes the section (train.gan_opt) to the message
            raise ValueError(f"gan_type: {gan_type!r} is not supported; allowed: {', '.join(GAN_TYPES)}")
        self.gan_type = gan_type
        self.real_label_val = float(real_label_val)
        self.fake_label_val = float(fake_label_val)
        self.loss_weight = float(loss_weight)

    def _label(self, pred: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        return torch.full_like(pred, self.real_label_val if target_is_real else self.fake_label_val)

    def _unweighted(self, pred: torch.Tensor, target_is_real: bool, is_disc: bool) -> torch.Tensor:
        kind = self.gan_type
        if kind == "vanilla":
            return F.binary_cross_entropy_with_logits(pred, self._label(pred, target_is_real))
        if kind == "lsgan":
            return F.mse_loss(pred, self._label(pred, target_is_real))
        if kind == "wgan":
            return -pred.mean() if target_is_real else pred.mean()
        if kind == "wgan_softplus":
            return F.softplus(-pred).mean() if target_is_real else F.softplus(pred).mean()
        # hinge: the margin applies to the discriminator; the generator just raises the score
        if not is_disc:
            return -pred.mean()
        return F.relu(1.0 - pred).mean() if target_is_real else F.relu(1.0 + pred).mean()

    def forward(self, pred: torch.Tensor, target_is_real: bool, is_disc: bool = False) -> torch.Tensor:
        loss = self._unweighted(pred, bool(target_is_real), bool(is_disc))
        return loss if is_disc else loss * self.loss_weight
