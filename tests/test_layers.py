"""The Swin block library: windows, the shift mask, attention, blocks and SwinT."""

from __future__ import annotations

import pytest
import torch

from swinsr.layers import (
    PatchMerging,
    SwinBlock,
    SwinT,
    cyclic_shift,
    pad_to_multiple,
    shifted_window_mask,
    window_partition,
    window_reverse,
)
from swinsr.layers.windows import MASK_FILL_VALUE


def test_window_partition_roundtrip():
    x = torch.randn(2, 16, 24, 5)
    w = window_partition(x, 8)
    assert w.shape == (2, 6, 64, 5)
    # the first window is the top-left 8x8 patch, row-major
    assert torch.equal(w[0, 0].view(8, 8, 5), x[0, :8, :8])
    assert torch.equal(window_reverse(w, 8, 16, 24), x)


def test_pad_and_shift():
    x = torch.randn(1, 5, 7, 3)
    p = pad_to_multiple(x, 4)
    assert p.shape == (1, 8, 8, 3) and torch.equal(p[:, :5, :7], x) and p[:, 5:].abs().sum() == 0
    assert torch.equal(cyclic_shift(cyclic_shift(x, 2), -2), x)
    assert torch.equal(cyclic_shift(x, 1)[0, 0, 0], x[0, 1, 1])


@pytest.mark.parametrize("h,w,ws", [(16, 16, 8), (24, 16, 8), (14, 21, 7), (8, 8, 4)])
def test_shift_mask_separates_regions(h, w, ws):
    """Tokens may attend within a shifted window only when they were neighbours before the roll."""
    shift = ws // 2
    mask = shifted_window_mask(h, w, ws, shift)
    assert mask.shape == ((h // ws) * (w // ws), ws * ws, ws * ws)
    # label each pixel with its position in the *unshifted* image, then roll like the block does
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    coords = torch.stack([ys, xs], -1)[None].float()
    rolled = window_partition(cyclic_shift(coords, shift), ws)[0]  # nW, N, 2
    for win in range(mask.shape[0]):
        c = rolled[win]
        # a pixel that wrapped around moved by (size - shift); real neighbours are < ws apart
        far = ((c[:, None, :] - c[None, :, :]).abs() >= ws).any(-1)
        assert torch.all(mask[win][far] == MASK_FILL_VALUE)
        assert torch.all(mask[win][~far] == 0)


def test_shift_mask_is_cached_per_size_device_dtype():
    a = shifted_window_mask(16, 16, 8, 4)
    assert shifted_window_mask(16, 16, 8, 4) is a
    assert shifted_window_mask(16, 24, 8, 4) is not a
    assert shifted_window_mask(16, 16, 8, 4, dtype=torch.float64).dtype == torch.float64


@pytest.mark.parametrize("version", [1, 2])
def test_block_any_size_and_window_clipping(version):
    blk = SwinBlock(16, 2, window_size=4, shift_size=2, version=version).eval()
    x = torch.randn(2, 7 * 9, 16)
    assert blk(x, (7, 9)).shape == x.shape
    clipped = SwinBlock(16, 2, window_size=8, shift_size=4, version=version, input_resolution=(4, 4))
    assert clipped.window_size == 4 and clipped.shift_size == 0


@pytest.mark.parametrize("version", [1, 2])
def test_shifted_block_is_local(version):
    """A block is local: changing a far-away token must not change a token's output."""
    blk = SwinBlock(8, 2, window_size=4, shift_size=2, version=version).eval()
    x = torch.randn(1, 16 * 16, 8)
    y = blk(x, (16, 16))
    x2 = x.clone().view(1, 16, 16, 8)
    x2[0, 12:, 12:] += 5.0  # bottom-right corner only
    y2 = blk(x2.view(1, -1, 8), (16, 16)).view(1, 16, 16, 8)
    assert torch.allclose(y.view(1, 16, 16, 8)[0, :8, :8], y2[0, :8, :8], atol=1e-6)


@pytest.mark.parametrize("version", [1, 2])
def test_patch_merging_orders(version):
    pm = PatchMerging(4, version=version)
    assert pm.norm.normalized_shape == ((16,) if version == 1 else (8,))
    y, size = pm(torch.randn(2, 5 * 7, 4), (5, 7))
    assert size == (3, 4) and y.shape == (2, 12, 8)


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("size", [(13, 9), (1, 1), (32, 17)])
def test_swint_keeps_shapes_and_trains(version, size):
    layer = SwinT(6, 12, num_heads=3, window_size=4, depth=2, version=version)
    x = torch.randn(2, 6, *size, requires_grad=True)
    y = layer(x)
    assert y.shape == (2, 12, *size)
    y.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    for name, p in layer.named_parameters():
        assert p.grad is not None, f"no gradient reached {name}"


def test_swint_downsample_like_stride2_conv():
    layer = SwinT(8, 16, num_heads=4, window_size=4, depth=2, downsample=True)
    assert layer(torch.randn(1, 8, 15, 20)).shape == (1, 16, 8, 10)
    with pytest.raises(ValueError, match="input channels"):
        layer(torch.randn(1, 3, 8, 8))


def test_swint_in_a_cnn():
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), SwinT(16, 16, num_heads=4, window_size=8), torch.nn.Conv2d(16, 3, 1)
    )
    assert net(torch.randn(1, 3, 30, 41)).shape == (1, 3, 30, 41)
