"""Moving between images ``(B, C, H, W)`` and token sequences ``(B, H*W, C)``."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

Size = tuple[int, int]


class PatchEmbed(nn.Module):
    """Image -> tokens, optionally through a strided ``proj`` convolution and a ``norm``.

    Args:
        in_chans: input channels.
        embed_dim: token channels.
        patch_size: patch side (the ``proj`` kernel and stride).
        norm_layer: normalisation applied to the tokens, or ``None``.
        use_proj: SwinIR embeds its (already convolved) features without a projection; the
            classifiers and Swin2SR project with a ``patch_size`` convolution.

    Inputs that are not patch multiples are zero-padded at the bottom/right.
    """

    def __init__(
        self,
        in_chans: int = 3,
        embed_dim: int = 96,
        patch_size: int = 4,
        norm_layer: type[nn.Module] | None = None,
        use_proj: bool = True,
    ):
        super().__init__()
        self.patch_size = patch_size
        self.in_chans = in_chans
        self.embed_dim = embed_dim
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size) if use_proj else None
        self.norm = norm_layer(embed_dim) if norm_layer is not None else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Size]:
        if self.proj is not None:
            p = self.patch_size
            pad_h, pad_w = (-x.shape[2]) % p, (-x.shape[3]) % p
            if pad_h or pad_w:
                x = F.pad(x, (0, pad_w, 0, pad_h))
            x = self.proj(x)
        size = (x.shape[2], x.shape[3])
        x = x.flatten(2).transpose(1, 2)
        if self.norm is not None:
            x = self.norm(x)
        return x, size


def patch_unembed(x: torch.Tensor, x_size: Size, channels_last: bool = False) -> torch.Tensor:
    """Tokens ``(B, H*W, C)`` -> image ``(B, C, H, W)``.

    With ``channels_last=True`` the result is a zero-copy ``torch.channels_last`` view of the
    tokens (what the SR networks feed their convolutions); otherwise a contiguous NCHW tensor.
    """
    b, _, c = x.shape
    if channels_last:
        return x.view(b, x_size[0], x_size[1], c).permute(0, 3, 1, 2)
    return x.transpose(1, 2).reshape(b, c, x_size[0], x_size[1])


class PatchMerging(nn.Module):
    """2x2 neighbourhood concat + linear ``reduction`` (halves H and W).

    ``version=1`` normalises the ``4C`` concatenation before the reduction (Swin V1);
    ``version=2`` reduces first and normalises the output (Swin V2). Odd sizes are padded.
    """

    def __init__(
        self,
        dim: int,
        out_dim: int | None = None,
        norm_layer: type[nn.Module] = nn.LayerNorm,
        version: int = 1,
    ):
        super().__init__()
        self.dim = dim
        self.out_dim = out_dim or 2 * dim
        self.version = version
        self.reduction = nn.Linear(4 * dim, self.out_dim, bias=False)
        self.norm = norm_layer(4 * dim if version == 1 else self.out_dim)

    def forward(self, x: torch.Tensor, x_size: Size) -> tuple[torch.Tensor, Size]:
        h, w = x_size
        b, _, c = x.shape
        x = x.view(b, h, w, c)
        if h % 2 or w % 2:
            x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        # order (0,0), (1,0), (0,1), (1,1) as in the reference: the reduction weights depend on it
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        new_size = (x.shape[1], x.shape[2])
        x = x.view(b, -1, 4 * c)
        if self.version == 1:
            x = self.reduction(self.norm(x))
        else:
            x = self.norm(self.reduction(x))
        return x, new_size
