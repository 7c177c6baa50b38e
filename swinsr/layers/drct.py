"""DRCT's dense residual group (Hsu et al., "DRCT: Saving Image Super-resolution away from
Information Bottleneck"), built from the library's :class:`~swinsr.layers.SwinBlock`.

Five Swin blocks see a growing concatenation ``[x, x1, ..., x_k]`` (widths ``dim + k*gc``);
after each, a 1x1 "adjust" convolution maps back to ``gc`` new channels (LeakyReLU 0.2), the
last one to ``dim``; the group returns ``x5 * 0.2 + x``. Details kept from the reference:
block ``k`` has ``num_heads - (width % num_heads)`` heads (so the head size divides the width),
blocks 2 and 4 are shifted, and blocks 4 and 5 use ``mlp_ratio=1``. Names are the reference
ones (``swin1`` .. ``swin5``, ``adjust1`` .. ``adjust5``).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from .block import SwinBlock
from .embed import patch_unembed

Size = tuple[int, int]

#: blocks in one dense residual group (fixed by the architecture)
DENSE_BLOCKS = 5


def dense_block_heads(width: int, num_heads: int) -> int:
    """Heads of a dense block of ``width`` channels in a group configured with ``num_heads``.

    The reference formula ``num_heads - width % num_heads`` (the first block, of width ``dim``,
    uses ``num_heads`` as given).
    """
    return num_heads - width % num_heads


class RDG(nn.Module):
    """Residual dense group of five Swin blocks with dense connections (see the module docstring).

    Args:
        dim: group input/output channels.
        num_heads: heads of the first block (the others follow :func:`dense_block_heads`).
        window_size: attention window.
        gc: growth channels added per block.
        mlp_ratio: MLP width of blocks 1-3 (blocks 4-5 use 1, as the reference).
        qkv_bias, qk_scale, drop, attn_drop: as for :class:`SwinBlock`.
        drop_path: one rate for every block (a list uses its first entry, as the reference).
        input_resolution: training feature size (sizes the saved shift masks).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int,
        gc: int = 32,
        mlp_ratio: float = 2.0,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float | Sequence[float] = 0.0,
        norm_layer: type[nn.Module] = nn.LayerNorm,
        input_resolution: Size | None = None,
        use_checkpoint: bool = False,
    ):
        super().__init__()
        rate = drop_path[0] if isinstance(drop_path, (list, tuple)) else drop_path
        self.use_checkpoint = use_checkpoint
        for k in range(DENSE_BLOCKS):
            width = dim + k * gc
            block = SwinBlock(
                width,
                num_heads if k == 0 else dense_block_heads(width, num_heads),
                window_size,
                shift_size=0 if k % 2 == 0 else window_size // 2,
                mlp_ratio=mlp_ratio if k < 3 else 1,
                qkv_bias=qkv_bias,
                qk_scale=qk_scale,
                drop=drop,
                attn_drop=attn_drop,
                drop_path=rate,
                norm_layer=norm_layer,
                input_resolution=input_resolution,
            )
            self.add_module(f"swin{k + 1}", block)
            self.add_module(f"adjust{k + 1}", nn.Conv2d(width, gc if k < DENSE_BLOCKS - 1 else dim, 1))
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def _step(self, k: int, x: torch.Tensor, x_size: Size) -> torch.Tensor:
        y = getattr(self, f"swin{k + 1}")(x, x_size)
        y = getattr(self, f"adjust{k + 1}")(patch_unembed(y, x_size, channels_last=True))
        if k < DENSE_BLOCKS - 1:
            y = self.lrelu(y)
        return y.flatten(2).transpose(1, 2)

    def forward(self, x: torch.Tensor, x_size: Size) -> torch.Tensor:
        feats = [x]
        for k in range(DENSE_BLOCKS):
            inp = feats[0] if k == 0 else torch.cat(feats, dim=-1)
            if self.use_checkpoint and self.training and torch.is_grad_enabled():
                out = torch.utils.checkpoint.checkpoint(self._step, k, inp, x_size, use_reentrant=False)
            else:
                out = self._step(k, inp, x_size)
            feats.append(out)
        return feats[-1] * 0.2 + x
