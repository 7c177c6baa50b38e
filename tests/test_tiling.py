"""Tiled inference: coverage, seamless blending, agreement with whole-image output, memory fallbacks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from swinsr.archs.contract import SRModel
from swinsr.errors import OptionError
from swinsr.inference import Upscaler, tiling
from swinsr.inference.tiling import Span, auto_tile_size, shrink_tile, span_weights, tile_spans, tiled_forward


def nearest_x2(x: torch.Tensor) -> torch.Tensor:
    """A local 'model': tiling must reproduce it exactly (no context needed)."""
    return F.interpolate(x, scale_factor=2, mode="nearest")


class FakeSR(SRModel):
    """Stands in for an SR model: nearest x2, optionally refusing inputs above a pixel count (fake OOM)."""

    scale = 2
    size_multiple = 8

    def __init__(self, max_pixels: int | None = None) -> None:
        super().__init__()
        self.max_pixels = max_pixels
        self.calls: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.max_pixels is not None and x.shape[-2] * x.shape[-1] > self.max_pixels:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
        self.calls.append(tuple(x.shape))  # successful calls only
        return nearest_x2(x)


@pytest.mark.parametrize("length,tile,overlap,align", [(125, 32, 16, 8), (19, 32, 16, 8), (100, 7, 3, 1), (64, 16, 0, 8)])
def test_tile_spans_cover_the_axis_aligned_to_the_window_grid(length, tile, overlap, align):
    spans = tile_spans(length, tile, overlap, align)
    assert spans[0].core0 == 0 and spans[-1].core1 == length
    for a, b in zip(spans, spans[1:]):
        assert a.core1 == b.core0  # cores partition the axis
    for s in spans:
        assert 0 <= s.start <= s.core0 - min(overlap, s.core0)  # at least `overlap` context (or the border)
        assert s.stop >= min(length, s.core1 + overlap)
        assert s.start % align == 0 and (s.stop % align == 0 or s.stop == length)


def test_blend_weights_sum_to_one_inside_and_fall_to_zero_outside():
    length, scale = 96, 2
    spans = tile_spans(length, 32, 16, 8)
    total = torch.zeros(length * scale)
    for s in spans:
        w = span_weights(s, length, scale, band=16)
        assert w.min() >= 0 and w.max() <= 1
        total[s.start * scale : s.stop * scale] += w
    assert torch.allclose(total, torch.ones_like(total), atol=1e-6)
    middle = span_weights(Span(32, 64, 16, 80), length, scale, band=16)
    assert middle[: 8 * scale].max() == 0  # beyond the crossfade band, context pixels do not contribute
    assert torch.all(middle[(40 - 16) * scale : (56 - 16) * scale] == 1)  # core interior: full weight


@pytest.mark.parametrize("hw,tile,overlap,batch", [((37, 53), 16, 8, 3), ((64, 64), 32, 0, 1), ((5, 70), 16, 4, 8)])
def test_tiled_output_is_exact_for_a_local_operator(hw, tile, overlap, batch):
    x = torch.rand(2, 3, *hw)
    y = tiled_forward(nearest_x2, x, scale=2, tile=tile, overlap=overlap, align=8, batch_size=batch)
    assert y.shape == (2, 3, hw[0] * 2, hw[1] * 2)
    assert torch.allclose(y, nearest_x2(x), atol=1e-6)


def test_tiles_are_batched_and_progress_reported():
    seen = []
    calls = []

    def forward(t):
        calls.append(tuple(t.shape))
        return nearest_x2(t)

    # 8 tiles per tile row (rows are processed one after the other so the output can stream)
    tiled_forward(forward, torch.rand(1, 3, 64, 128), scale=2, tile=16, overlap=8, align=8, batch_size=4,
                  progress=lambda d, n: seen.append((d, n)))
    assert max(n for n, *_ in calls) == 4  # equal-shape tiles of a tile row share a batch
    assert seen[-1] == (32, 32) and sum(n for n, *_ in calls) == 32
    assert max(max(h, w) for *_, h, w in calls) <= 16 + 2 * 8  # device memory bounded by the tile


def test_bad_tile_options_are_usage_errors():
    with pytest.raises(OptionError, match="--tile"):
        Upscaler(FakeSR(), tile=0)
    with pytest.raises(OptionError, match="--tile-overlap"):
        Upscaler(FakeSR(), tile=32, tile_overlap=-1)
    with pytest.raises(OptionError, match="--tile"):
        Upscaler(FakeSR(), tile="big")


def test_auto_tile_and_shrink_rules():
    assert auto_tile_size(bytes_per_pixel=1000, budget_bytes=1000 * 200 * 200, overlap=16, multiple=8) == 152
    assert auto_tile_size(bytes_per_pixel=1e9, budget_bytes=1, overlap=16) == tiling.MIN_TILE
    assert shrink_tile(256, 8) == 192 and shrink_tile(tiling.MIN_TILE, 8) is None


def test_auto_tile_processes_small_images_whole_and_large_ones_in_tiles(monkeypatch):
    model = FakeSR()
    up = Upscaler(model, tile="auto", tile_overlap=8, device="cpu")
    x = torch.rand(1, 3, 40, 48)
    assert torch.allclose(up.upscale_tensor(x), nearest_x2(x))
    assert up.last_tile is None
    monkeypatch.setattr(tiling, "CPU_TILE_BUDGET_BYTES", 1, raising=True)
    monkeypatch.setattr("swinsr.inference.upscaler.CPU_TILE_BUDGET_BYTES", 1)
    up = Upscaler(model, tile="auto", tile_overlap=8, device="cpu")
    assert torch.allclose(up.upscale_tensor(x), nearest_x2(x))
    assert up.last_tile == tiling.MIN_TILE


def test_out_of_memory_retries_with_smaller_tiles():
    model = FakeSR(max_pixels=40 * 40)
    up = Upscaler(model, tile=None, tile_overlap=4, device="cpu")
    x = torch.rand(1, 3, 64, 80)
    y = up.upscale_tensor(x)
    assert torch.allclose(y, nearest_x2(x))
    assert up.last_tile is not None and up.last_tile + 2 * 4 + 2 * 8 <= 64
    assert model.calls and max(h * w for *_, h, w in model.calls) <= 40 * 40

    up = Upscaler(FakeSR(max_pixels=4), tile=32, tile_overlap=4, device="cpu")
    with pytest.raises(torch.OutOfMemoryError):  # gives up once tiles cannot shrink further
        up.upscale_tensor(x)


def test_tiled_matches_whole_image_on_a_real_image(shared):
    """Issue 4: tiled vs whole-image output >= 45 dB PSNR (fixture model, tile 32, overlap 16)."""
    from swinsr import load_model
    from swinsr.imageio import read_image

    model = load_model(shared / "fixtures/swinir/swinir_classical_x2.pth")
    image = read_image(shared / "data/Set14/LR_bicubic/X2/comicx2.png").array[:100, :90]  # not window multiples
    whole = Upscaler(model, tile=None).upscale(image).astype(np.float64)
    tiled_up = Upscaler(model, tile=32, tile_overlap=16)
    tiled = tiled_up.upscale(image).astype(np.float64)
    assert tiled_up.last_tile == 32
    psnr = 10 * np.log10(255.0**2 / np.mean((whole - tiled) ** 2))
    assert psnr >= 45, f"tiled vs whole PSNR {psnr:.2f} dB"


def test_uniform_tiles_all_have_one_shape_and_keep_their_cores():
    from swinsr.inference.tiling import uniform_tile_side, widen_span

    side = uniform_tile_side(16, 8, 8)
    assert side % 8 == 0 and side >= 16 + 2 * 8
    for length in (side, 72, 200):
        spans = tile_spans(length, 16, 8, 8)
        wide = [widen_span(s, side, length) for s in spans]
        assert {s.stop - s.start for s in wide} == {side}
        for s, w in zip(spans, wide):
            assert (w.core0, w.core1) == (s.core0, s.core1) and 0 <= w.start <= s.start and s.stop <= w.stop <= length
    with pytest.raises(ValueError, match="cannot widen"):
        widen_span(tile_spans(24, 16, 8, 8)[0], side, 24)
