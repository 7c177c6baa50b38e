"""x8 self-ensemble: run a model on the 8 flips/rotations of its input and average the results."""

from __future__ import annotations

from typing import Callable

import torch

Forward = Callable[[torch.Tensor], torch.Tensor]


def _transform(x: torch.Tensor, k: int, flip: bool) -> torch.Tensor:
    if flip:
        x = x.flip(-1)
    return torch.rot90(x, k, dims=(-2, -1))


def _inverse(y: torch.Tensor, k: int, flip: bool) -> torch.Tensor:
    y = torch.rot90(y, -k, dims=(-2, -1))
    return y.flip(-1) if flip else y


def self_ensemble(forward: Forward, x: torch.Tensor) -> torch.Tensor:
    """Average of ``forward`` over the dihedral group of ``x`` (4 rotations x optional horizontal flip).

    Each transformed output is mapped back before averaging, so the result is aligned with ``x``.
    Costs 8 forward passes; accumulates in float32 to keep the average exact under autocast.
    """
    total: torch.Tensor | None = None
    for flip in (False, True):
        for k in range(4):
            y = _inverse(forward(_transform(x, k, flip)), k, flip).float()
            total = y if total is None else total + y
    assert total is not None
    return total / 8.0
