"""Exponential moving average of a network's weights (BasicSR's ``net_g_ema``)."""

from __future__ import annotations

import copy

import torch
import torch.nn as nn


class EMA:
    """Keeps ``ema = decay * ema + (1 - decay) * weights`` after every optimizer step.

    Only parameters are averaged; buffers are copied (they are constants or running stats).
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = float(decay)
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, decay: float | None = None) -> None:
        """One averaging step towards ``model`` (``decay=0`` copies it)."""
        d = self.decay if decay is None else float(decay)
        ema_p = list(self.module.parameters())
        src_p = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(ema_p, src_p, 1.0 - d)
        for b_ema, b in zip(self.module.buffers(), model.buffers()):
            b_ema.copy_(b)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, sd: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(sd, strict=True)
