"""Reconstruction heads and convolutions shared by the SR families (SwinIR, Swin2SR, HAT, DRCT, DAT).

Names and layouts are the reference ones (``conv_before_upsample``, ``upsample``, ``conv_last``), so
released state dicts load unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from ..layers.winograd import conv3x3

NUM_FEAT = 64  # channels of the reconstruction head, fixed in the reference
RGB_MEAN = (0.4488, 0.4371, 0.4040)  # DIV2K mean, subtracted before the network


def image_mean(in_chans: int) -> torch.Tensor:
    """The ``(1, C, 1, 1)`` mean subtracted before the network: DIV2K's for RGB, 0 for gray.

    The references keep it as a plain attribute (not a state-dict entry), so models register it
    with ``persistent=False``.
    """
    mean = RGB_MEAN if in_chans == 3 else (0.0,) * in_chans
    return torch.tensor(mean, dtype=torch.float32).view(1, in_chans, 1, 1)


UPSAMPLERS = ("pixelshuffle", "pixelshuffledirect", "nearest+conv", "pixelshuffle_aux", "")


def residual_conv(dim: int, resi_connection: str) -> nn.Module:
    """The convolution closing each residual group: ``'1conv'`` or the cheaper ``'3conv'``."""
    if resi_connection == "1conv":
        return conv3x3(dim, dim)
    if resi_connection == "3conv":
        return nn.Sequential(
            conv3x3(dim, dim // 4),
            nn.LeakyReLU(negative_slope=0.2, inplace=True),
            nn.Conv2d(dim // 4, dim // 4, 1, 1, 0),
            nn.LeakyReLU(negative_slope=0.2, inplace=True),
            conv3x3(dim // 4, dim),
        )
    raise ValueError(f"resi_connection must be '1conv' or '3conv', got {resi_connection!r}")


class Upsample(nn.Sequential):
    """Conv + PixelShuffle steps for scales 2^n and 3 (reference ``Upsample``)."""

    def __init__(self, scale: int, num_feat: int):
        layers: list[nn.Module] = []
        if scale & (scale - 1) == 0:
            for _ in range(int(math.log2(scale))):
                layers += [nn.Conv2d(num_feat, 4 * num_feat, 3, 1, 1), nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [nn.Conv2d(num_feat, 9 * num_feat, 3, 1, 1), nn.PixelShuffle(3)]
        else:
            raise ValueError(f"upscale {scale} is not supported by 'pixelshuffle'; use 2^n or 3")
        super().__init__(*layers)


class UpsampleOneStep(nn.Sequential):
    """One conv + PixelShuffle straight to the output channels (lightweight SR)."""

    def __init__(self, scale: int, num_feat: int, num_out_ch: int):
        super().__init__(nn.Conv2d(num_feat, scale * scale * num_out_ch, 3, 1, 1), nn.PixelShuffle(scale))
