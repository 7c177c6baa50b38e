"""Feed-forward and stochastic-depth pieces of a transformer block."""

from __future__ import annotations

import torch
import torch.nn as nn

from .linear import fast_linear, is_exact_gelu, linear_module


class Mlp(nn.Module):
    """Two-layer perceptron ``fc1 -> act -> drop -> fc2 -> drop`` (reference names)."""

    def __init__(
        self,
        in_features: int,
        hidden_features: int | None = None,
        out_features: int | None = None,
        act_layer: type[nn.Module] = nn.GELU,
        drop: float = 0.0,
    ):
        super().__init__()
        hidden_features = hidden_features or in_features
        out_features = out_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = act_layer()
        self.fc2 = nn.Linear(hidden_features, out_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if is_exact_gelu(self.act):  # in inference the GELU runs inside fc1's GEMM (see .linear)
            hidden = fast_linear(x, self.fc1.weight, self.fc1.bias, self.fc1, "weight", gelu=True)
        else:
            hidden = self.act(linear_module(self.fc1, x))
        return self.drop(linear_module(self.fc2, self.drop(hidden)))


def drop_path(x: torch.Tensor, drop_prob: float = 0.0, training: bool = False) -> torch.Tensor:
    """Stochastic depth: zero whole samples of a residual branch with probability ``drop_prob``."""
    if drop_prob == 0.0 or not training:
        return x
    keep = 1.0 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    return x * x.new_empty(shape).bernoulli_(keep).div_(keep)


class DropPath(nn.Module):
    """Module form of :func:`drop_path`."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"
