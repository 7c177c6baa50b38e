"""JPEG compression in torch, batched and per-sample quality: the DiffJPEG algorithm.

Steps (as BasicSR's ``utils/diffjpeg.py``, ``differentiable=False``): pad the image with zeros to
multiples of 16, RGB -> YCbCr (JFIF, full range), 4:2:0 chroma subsampling by 2x2 averaging,
8x8 blocks, DCT-II, quantisation by the standard luma / chroma tables scaled by the quality
factor, rounding, then the inverse path (nearest-neighbour chroma upsampling) and a clamp to
``[0, 255]``. No entropy coding, so it differs slightly from a real encoder such as OpenCV's; it
matches BasicSR's DiffJPEG output (``../shared/fixtures/degradations/ops.pt``).

Like DiffJPEG, the quantisation tables are indexed (horizontal, vertical) frequency -- the
transpose of the usual (row, column) layout of the JPEG standard's tables; that is what Real-ESRGAN
trains with, so it is kept.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# JPEG standard (ITU T.81, Annex K) luminance and chrominance tables, rows = vertical frequency.
_LUMA = (
    (16, 11, 10, 16, 24, 40, 51, 61),
    (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56),
    (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77),
    (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)
_CHROMA_TOP = ((17, 18, 24, 47), (18, 21, 26, 66), (24, 26, 56, 99), (47, 66, 99, 99))

# JFIF RGB <-> YCbCr (full range, offset 128 on the chroma channels)
#: Smallest table scale used (quality 100 would give 0): steps of 1/1000 leave the DCT practically exact.
MIN_FACTOR = 1e-3

_RGB2YCBCR = ((0.299, 0.587, 0.114), (-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))
_YCBCR2RGB = ((1.0, 0.0, 1.402), (1.0, -0.344136, -0.714136), (1.0, 1.772, 0.0))


def quant_tables() -> tuple[torch.Tensor, torch.Tensor]:
    """``(luma, chroma)`` float32 ``(8, 8)`` quantisation tables as DiffJPEG applies them (transposed)."""
    luma = torch.tensor(_LUMA, dtype=torch.float32).T
    chroma = torch.full((8, 8), 99.0)
    chroma[:4, :4] = torch.tensor(_CHROMA_TOP, dtype=torch.float32).T
    return luma.contiguous(), chroma.contiguous()


def quality_to_factor(quality: torch.Tensor) -> torch.Tensor:
    """IJG quality (1-100) -> table scale: ``50 / q`` below 50, ``2 - q / 50`` from 50 up."""
    return torch.where(quality < 50, 50.0 / quality, 2.0 - quality * 0.02)


def dct_basis(device: torch.device | None = None) -> torch.Tensor:
    """``(8, 8)`` orthonormal DCT-II matrix ``D`` (``D @ block @ D.T`` transforms a block)."""
    n = torch.arange(8, dtype=torch.float64)
    d = torch.cos((2 * n[None, :] + 1) * n[:, None] * math.pi / 16) * 0.5
    d[0] /= math.sqrt(2.0)
    return d.float().to(device)


def _dct64(device: torch.device) -> torch.Tensor:
    """``(64, 64)`` 2-D DCT on flattened blocks, ``kron(D, D)``: one matrix product for all blocks
    (much faster than many tiny 8x8 products)."""
    d = dct_basis().double()
    return torch.kron(d, d).float().to(device)


def _blocks(x: torch.Tensor) -> torch.Tensor:
    """``(B, H, W)`` -> ``(B, H/8 * W/8, 64)`` row-major blocks, each flattened row-major."""
    b, h, w = x.shape
    return x.view(b, h // 8, 8, w // 8, 8).permute(0, 1, 3, 2, 4).reshape(b, -1, 64)


def _unblocks(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    b = x.shape[0]
    return x.view(b, h // 8, w // 8, 8, 8).permute(0, 1, 3, 2, 4).reshape(b, h, w)


def _code_channel(x: torch.Tensor, table: torch.Tensor, dct: torch.Tensor) -> torch.Tensor:
    """Quantise and reconstruct one ``(B, H, W)`` channel (0-255 scale) with ``(B, 1, 64)`` tables."""
    h, w = x.shape[-2:]
    coeff = _blocks(x - 128.0) @ dct.T
    coeff = torch.round(coeff / table) * table
    return _unblocks(coeff @ dct, h, w) + 128.0


def jpeg_compress(img: torch.Tensor, quality: float | torch.Tensor) -> torch.Tensor:
    """JPEG-compress ``(B, 3, H, W)`` RGB images in ``[0, 1]`` at ``quality`` (a number or ``(B,)``).

    Returns the decoded images in ``[0, 1]``, same shape; computed in float32 (as the reference),
    on ``img``'s device. Not differentiable (plain rounding).
    """
    if img.ndim != 4 or img.shape[1] != 3:
        raise ValueError(f"jpeg_compress: expected (B, 3, H, W) RGB images, got {tuple(img.shape)}")
    dtype = img.dtype
    x = img.float()
    b, _, h, w = x.shape
    q = torch.as_tensor(quality, dtype=torch.float32, device=x.device).reshape(-1)
    q = q.expand(b) if q.numel() == 1 else q
    # quality 100 gives factor 0, a division by zero in DiffJPEG: quantise with a negligible step instead
    factor = quality_to_factor(q).clamp_min(MIN_FACTOR).view(b, 1, 1)
    luma, chroma = (t.to(x.device).reshape(1, 1, 64) for t in quant_tables())
    dct = _dct64(x.device)

    x = F.pad(x, (0, (-w) % 16, 0, (-h) % 16))  # whole 16x16 macroblocks so 4:2:0 chroma has whole blocks
    ph, pw = x.shape[-2:]
    # colour transforms as matrix products, not 1x1 convolutions: cuDNN may run those in TF32
    ycc = torch.einsum("ck,bkhw->bchw", torch.tensor(_RGB2YCBCR, device=x.device), x * 255.0)
    ycc = ycc + torch.tensor([0.0, 128.0, 128.0], device=x.device).view(1, 3, 1, 1)
    y = _code_channel(ycc[:, 0], luma * factor, dct)
    chroma_sub = F.avg_pool2d(ycc[:, 1:], kernel_size=2, stride=2)
    cb = _code_channel(chroma_sub[:, 0], chroma * factor, dct)
    cr = _code_channel(chroma_sub[:, 1], chroma * factor, dct)
    cbcr = torch.stack([cb, cr], dim=1).repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)
    ycc = torch.cat([y.unsqueeze(1), cbcr - 128.0], dim=1)
    rgb = torch.einsum("ck,bkhw->bchw", torch.tensor(_YCBCR2RGB, device=x.device), ycc)
    rgb = rgb.clamp(0, 255) / 255.0
    return rgb[:, :, :h, :w].to(dtype)


class DiffJPEG(torch.nn.Module):
    """Module form of :func:`jpeg_compress` (``forward(img, quality)``), for code written against BasicSR."""

    def forward(self, img: torch.Tensor, quality: float | torch.Tensor) -> torch.Tensor:  # noqa: D102
        return jpeg_compress(img, quality)


__all__ = ["DiffJPEG", "dct_basis", "jpeg_compress", "quality_to_factor", "quant_tables"]
