"""Grow a trained SwinIR / Swin2SR deeper without changing what it computes.

A CPU budget rarely allows training a bigger restoration network from scratch, but a trained
small one can be deepened and training continued from exactly where it stood: every added
Swin block and residual group starts as an identity because the *last* layer of each of its
residual branches is zero — a V1 block's ``attn.proj`` and ``mlp.fc2``, a V2 (post-norm)
block's ``norm1`` and ``norm2``, a group's closing conv (SwinIR; its last conv for ``3conv``)
or its 1x1 re-embedding (Swin2SR). The grown network's output equals the small one's to float
rounding. Only the last layer is zeroed: its input is then not zero, so it gets a gradient from
the first step and the layers before it follow (zeroing two layers in a row would leave both
with zero gradients for ever).

Blocks are appended at the end of each existing group (keeping the alternation of plain and
shifted windows: an even number of added blocks keeps the pattern), groups after the last one.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from .model import SwinSRBase

#: per block version, the last layer of each residual branch of a Swin block
_BLOCK_BRANCH_ENDS = {1: ("attn.proj", "mlp.fc2"), 2: ("norm1", "norm2")}


def _zero_last_layer_(module: nn.Module) -> None:
    """Zero the weights of ``module``, or of its last child with weights for a sequence."""
    if isinstance(module, nn.Sequential):
        module = [m for m in module if any(True for _ in m.parameters())][-1]
    with torch.no_grad():
        for p in module.parameters():
            p.zero_()


def grow_depth(model: SwinSRBase, depths: Sequence[int], num_heads: Sequence[int] | None = None) -> SwinSRBase:
    """A deeper copy of ``model`` (a SwinIR or Swin2SR) that computes the same function.

    ``depths`` gives the blocks per residual group of the new network: at least as many groups
    as ``model`` has, each at least as deep as its counterpart. ``num_heads`` defaults to the old
    groups' heads, new groups taking the last group's. The copy is in ``model``'s dtype and on
    its device; ``model`` is not changed.

    Only the function is carried over, not training settings: a training run builds its network
    from its own option file, so a ``drop_path_rate`` there is spread over all the grown blocks
    (the old blocks train on with somewhat different stochastic-depth rates than before).
    """
    old = model.config
    old_depths, old_heads = list(old["depths"]), list(old["num_heads"])
    depths = [int(d) for d in depths]
    if len(depths) < len(old_depths) or any(n < o for n, o in zip(depths, old_depths)):
        raise ValueError(
            f"depths {depths}: a grown network keeps every group and block of the old one {old_depths}; "
            "give at least as many groups, each at least as deep")
    heads = list(num_heads) if num_heads is not None else old_heads + [old_heads[-1]] * (len(depths) - len(old_depths))
    if len(heads) != len(depths) or heads[: len(old_heads)] != old_heads:
        raise ValueError(f"num_heads {heads}: one per group, the old groups keeping theirs {old_heads}")

    grown = type(model)(**{**old, "depths": depths, "num_heads": heads})
    param = next(model.parameters())
    grown.to(dtype=param.dtype, device=param.device)
    unexpected = grown.load_state_dict(model.state_dict(), strict=False).unexpected_keys
    if unexpected:  # every old weight has a place in the grown network (the new ones stay missing)
        raise RuntimeError(f"grow_depth: weights without a place in the grown network: {unexpected[:5]}")
    for i, layer in enumerate(grown.layers):
        if i >= len(old_depths):  # a new group: the end of its branch silences the whole group
            _zero_last_layer_(layer.patch_embed if layer.patch_embed is not None else layer.conv)
            continue
        for block in layer.residual_group.blocks[old_depths[i]:]:
            for name in _BLOCK_BRANCH_ENDS[grown.version]:
                _zero_last_layer_(block.get_submodule(name))
    return grown


__all__ = ["grow_depth"]
