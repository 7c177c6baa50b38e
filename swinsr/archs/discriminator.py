"""Real-ESRGAN's U-Net discriminator with spectral normalisation (``network_d: {type: UNetDiscriminatorSN}``).

Parameter names follow the reference (``conv1.weight_orig``, ``conv1.weight_u``, ``conv1.weight_v``
...), so ``RealESRGAN_x4plus_netD.pth`` and BasicSR-trained ``net_d_<iter>.pth`` files load
strictly. Spectral norm is torch's hook-based ``torch.nn.utils.spectral_norm``: in training mode
every forward runs one power iteration and updates the stored ``u``/``v``; in eval mode the stored
vectors are used as they are, which is what the reference does too.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm

from .registry import ARCH_REGISTRY

NEGATIVE_SLOPE = 0.2


def _sn_conv(c_in: int, c_out: int, kernel: int, stride: int) -> nn.Module:
    """A bias-free convolution wrapped in spectral norm (padding 1, as every SN layer of the network)."""
    return spectral_norm(nn.Conv2d(c_in, c_out, kernel, stride, 1, bias=False))


@ARCH_REGISTRY.register()
class UNetDiscriminatorSN(nn.Module):
    """A U-Net that scores every pixel as real or fake (one logit per input pixel).

    Three stride-2 4x4 convolutions go down (``num_feat`` -> ``8 * num_feat`` channels), three
    bilinear x2 upsamplings each followed by a 3x3 convolution come back up, with the encoder
    features added back at each scale when ``skip_connection``; two more 3x3 convolutions and a
    plain 3x3 convolution to one channel finish. Every convolution but the first and the last is
    spectrally normalised. Input height and width must be multiples of 8 for the skips to line up.

    Args:
        num_in_ch: input channels (3 for RGB).
        num_feat: channels of the first level (64 in Real-ESRGAN).
        skip_connection: add the encoder features to the decoder ones.
    """

    DERIVED_BUFFERS: tuple[str, ...] = ()  # weight_u / weight_v are state, never recomputed on load

    def __init__(self, num_in_ch: int, num_feat: int = 64, skip_connection: bool = True):
        super().__init__()
        self.skip_connection = bool(skip_connection)
        f = int(num_feat)
        self.conv0 = nn.Conv2d(num_in_ch, f, 3, 1, 1)
        # encoder: /2, /4, /8
        self.conv1 = _sn_conv(f, 2 * f, 4, 2)
        self.conv2 = _sn_conv(2 * f, 4 * f, 4, 2)
        self.conv3 = _sn_conv(4 * f, 8 * f, 4, 2)
        # decoder: one convolution after each x2 upsampling
        self.conv4 = _sn_conv(8 * f, 4 * f, 3, 1)
        self.conv5 = _sn_conv(4 * f, 2 * f, 3, 1)
        self.conv6 = _sn_conv(2 * f, f, 3, 1)
        # refinement at full resolution
        self.conv7 = _sn_conv(f, f, 3, 1)
        self.conv8 = _sn_conv(f, f, 3, 1)
        self.conv9 = nn.Conv2d(f, 1, 3, 1, 1)

    @staticmethod
    def _act(x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, NEGATIVE_SLOPE)

    def _up(self, x: torch.Tensor, conv: nn.Module, skip: torch.Tensor) -> torch.Tensor:
        x = self._act(conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)))
        return x + skip if self.skip_connection else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, num_in_ch, H, W)`` -> ``(B, 1, H, W)`` logits."""
        e0 = self._act(self.conv0(x))
        e1 = self._act(self.conv1(e0))
        e2 = self._act(self.conv2(e1))
        e3 = self._act(self.conv3(e2))
        d = self._up(e3, self.conv4, e2)
        d = self._up(d, self.conv5, e1)
        d = self._up(d, self.conv6, e0)
        d = self._act(self.conv7(d))
        d = self._act(self.conv8(d))
        return self.conv9(d)
