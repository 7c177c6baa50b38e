"""``SwinT``: a Swin Transformer stage with the calling convention of ``nn.Conv2d``."""

from __future__ import annotations

import torch
import torch.nn as nn

from .block import SwinStage
from .embed import PatchMerging, patch_unembed


class SwinT(nn.Module):
    """Drop-in replacement for a ``nn.Conv2d``: NCHW in, NCHW out, any spatial size.

    A stack of ``depth`` (shifted-)window attention blocks. Channels change with a 1x1
    projection (``in_channels != out_channels``) or, with ``downsample=True``, with a
    patch-merging layer that also halves H and W (like a stride-2 convolution). Sizes that
    are not window multiples are padded internally and cropped back.

    Args:
        in_channels: input channels.
        out_channels: output channels (must be divisible by ``num_heads``).
        num_heads: attention heads.
        window_size: attention window side.
        depth: number of blocks (shifted every second block).
        downsample: halve the spatial size first (odd sizes round up).
        version: 1 (Swin V1 blocks) or 2 (Swin V2 blocks).
        mlp_ratio, drop_path: block options.

    Example:
        >>> layer = SwinT(64, 128, num_heads=4, window_size=8, depth=2, downsample=True)
        >>> layer(torch.randn(2, 64, 37, 50)).shape
        torch.Size([2, 128, 19, 25])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_heads: int,
        window_size: int = 8,
        depth: int = 2,
        downsample: bool = False,
        version: int = 1,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
    ):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        if downsample:
            self.reduce: nn.Module = PatchMerging(in_channels, out_channels, version=version)
        elif in_channels != out_channels:
            self.reduce = nn.Linear(in_channels, out_channels)
        else:
            self.reduce = nn.Identity()
        self.stage = SwinStage(
            out_channels, depth, num_heads, window_size, mlp_ratio=mlp_ratio, drop_path=drop_path, version=version
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        if c != self.in_channels:
            raise ValueError(f"SwinT expected {self.in_channels} input channels, got {c}")
        tokens = x.flatten(2).transpose(1, 2)
        size = (h, w)
        if isinstance(self.reduce, PatchMerging):
            tokens, size = self.reduce(tokens, size)
        else:
            tokens = self.reduce(tokens)
        tokens, size = self.stage(tokens, size)
        return patch_unembed(tokens, size)
