"""Streamed output: tiles blended band by band into the final uint8/uint16 image.

Checks that the streamed path gives the float32 whole-image path's result to rounding (RGB,
gray, alpha, 16-bit, float, --outscale), that the float working set is one tile row, and that
an image whose output cannot fit is refused before any work with a one-line message.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import swinsr
from swinsr.cli import main
from swinsr.errors import ImageError
from swinsr.inference import Upscaler, streaming
from swinsr.inference.arrays import array_to_tensor, resize_antialiased, tensor_to_array
from swinsr.inference.streaming import BandResizer, bicubic_bands
from swinsr.inference.tiling import span_weights, tile_spans, tiled_bands, tiled_forward

RNG = np.random.default_rng(0)


def rand(shape, dtype=np.uint8):
    if np.issubdtype(dtype, np.floating):
        return RNG.random(shape).astype(dtype)
    return RNG.integers(0, np.iinfo(dtype).max + 1, size=shape, dtype=np.int64).astype(dtype)


@pytest.fixture(scope="module")
def model():
    """A small random-weight SwinIR x2 (window 8): real attention, so tile context matters."""
    torch.manual_seed(0)
    m = swinsr.SwinIR(upscale=2, img_size=32, window_size=8, img_range=1.0, depths=[2], embed_dim=16,
                      num_heads=[2], mlp_ratio=2, upsampler="pixelshuffledirect")
    with torch.no_grad():
        for p in m.parameters():  # move far from the init so the output is not near-bicubic
            p.add_(torch.randn_like(p) * 0.05)
    return m.eval()


def float_path(up: Upscaler, arr: np.ndarray, outscale: float | None = None) -> np.ndarray:
    """What ``Upscaler.upscale`` returned before streaming: a float32 image, then quantised."""
    out = up.upscale_tensor(array_to_tensor(arr))
    if outscale is not None:
        h, w = arr.shape[:2]
        out = resize_antialiased(out, (round(h * outscale), round(w * outscale)))
    return tensor_to_array(out, arr.dtype, squeeze_channel=arr.ndim == 2)


def levels(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape and a.dtype == b.dtype
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())


def old_tiled_forward(forward, x, *, scale, tile, overlap, align):
    """The accumulate-everything algorithm the streamed one replaced (a full float32 output image)."""
    b, _, h, w = x.shape
    rows, cols = tile_spans(h, tile, overlap, align), tile_spans(w, tile, overlap, align)
    out = wsum = None
    for r in rows:
        for c in cols:
            y = forward(x[:, :, r.start : r.stop, c.start : c.stop])
            wgt = span_weights(r, h, scale, overlap)[:, None] * span_weights(c, w, scale, overlap)[None, :]
            if out is None:
                out = torch.zeros(b, y.shape[1], h * scale, w * scale)
                wsum = torch.zeros(h * scale, w * scale)
            out[:, :, r.start * scale : r.stop * scale, c.start * scale : c.stop * scale] += y * wgt
            wsum[r.start * scale : r.stop * scale, c.start * scale : c.stop * scale] += wgt
    return out / wsum


def test_banded_tiling_equals_the_full_float_accumulation(model):
    x = torch.rand(2, 3, 48, 40)  # a window multiple: no model padding, so the old algorithm applies as is
    with torch.no_grad():
        new = tiled_forward(model, x, scale=2, tile=16, overlap=8, align=8)
        old = old_tiled_forward(model, x, scale=2, tile=16, overlap=8, align=8)
    assert float((new - old).abs().max()) < 1e-5


def test_blocks_cover_the_output_once_in_order_and_stay_small():
    x = torch.rand(1, 3, 77, 90)
    tile, overlap, align, scale = 16, 8, 8, 2
    count = torch.zeros(77 * scale, 90 * scale, dtype=torch.int32)
    blocks: list[tuple[int, int, int, int]] = []

    def emit(image: int, row0: int, col0: int, block: torch.Tensor) -> None:
        assert image == 0 and block.shape[0] == 3
        blocks.append((row0, col0, *block.shape[1:]))
        count[row0 : row0 + block.shape[1], col0 : col0 + block.shape[2]] += 1

    tiled_bands(lambda t: F.interpolate(t, scale_factor=2, mode="nearest"), x, emit,
                scale=scale, tile=tile, overlap=overlap, align=align)
    assert bool((count == 1).all())  # every output pixel exactly once
    assert [b[0] for b in blocks] == sorted(b[0] for b in blocks)  # tile rows top to bottom
    side = (tile + 2 * overlap + 2 * align) * scale
    assert max(b[2] for b in blocks) <= side and max(b[3] for b in blocks) <= side  # tile-sized, not image-wide


@pytest.mark.parametrize("shape,dtype", [
    ((41, 57, 3), np.uint8), ((41, 57), np.uint8), ((33, 30, 3), np.uint16), ((30, 33, 1), np.uint8),
    ((30, 33, 3), np.float32),
])
def test_streamed_upscale_equals_the_float_path(model, shape, dtype):
    up = Upscaler(model, tile=16, tile_overlap=8)
    arr = rand(shape, dtype)
    streamed = up.upscale(arr)
    assert up.last_tile == 16
    expected = float_path(up, arr)
    tol = 1.0 if dtype != np.float32 else 1e-5
    assert levels(streamed, expected) <= tol
    if dtype == np.uint8:  # overwhelmingly identical: only float-rounding ties may flip
        assert np.mean(streamed != expected) < 1e-3


@pytest.mark.parametrize("alpha", ["model", "bicubic"])
@pytest.mark.parametrize("shape,dtype", [((35, 42, 4), np.uint8), ((35, 42, 2), np.uint16)])
def test_streamed_alpha_equals_the_float_path(model, alpha, shape, dtype):
    up = Upscaler(model, tile=16, tile_overlap=8, alpha=alpha)
    arr = rand(shape, dtype)
    assert levels(up.upscale(arr), float_path(up, arr)) <= 1.0


@pytest.mark.parametrize("outscale", [1.5, 3.3, 0.7])
def test_streamed_outscale_equals_resizing_the_float_image(model, outscale):
    up = Upscaler(model, tile=16, tile_overlap=8)
    arr = rand((37, 45, 3))
    out = up.upscale(arr, outscale=outscale)
    assert out.shape == (round(37 * outscale), round(45 * outscale), 3)
    assert levels(out, float_path(up, arr, outscale)) <= 1.0


@pytest.mark.parametrize("src,dst,band", [((90, 70), (41, 33), 13), ((40, 31), (97, 64), 7), ((64, 64), (64, 32), 64)])
def test_band_resizer_matches_the_whole_image_resize(src, dst, band):
    img = torch.rand(3, *src)
    got = torch.full((3, *dst), -1.0)

    def sink(row0, rows):
        got[:, row0 : row0 + rows.shape[1]] = rows

    resizer = BandResizer(src, dst, sink)
    for r0 in range(0, src[0], band):
        resizer(r0, img[:, r0 : r0 + band])
    assert resizer.next_out == dst[0]
    assert float((got - resize_antialiased(img[None], dst)[0]).abs().max()) < 1e-5


def test_bicubic_bands_equal_one_interpolate_call():
    img = torch.rand(1, 150, 37)
    got = torch.empty(1, 450, 111)
    bicubic_bands(img, 3, lambda r0, band: got[:, r0 : r0 + band.shape[1]].copy_(band), rows=16)
    expected = F.interpolate(img[None], scale_factor=3, mode="bicubic", align_corners=False)[0]
    # x3: the source coordinate (o + 0.5) / 3 rounds differently at another offset: float32 noise only
    assert float((got - expected).abs().max()) < 1e-4


def test_an_output_that_cannot_fit_is_refused_before_any_work(model, monkeypatch):
    calls = []
    up = Upscaler(model, tile=16, tile_overlap=8)
    monkeypatch.setattr(up, "_forward", lambda x: calls.append(x) or x)
    monkeypatch.setattr(streaming, "available_memory", lambda: 30 * 2**20)
    with pytest.raises(ImageError) as err:
        up.upscale(np.zeros((2048, 1536, 3), np.uint8))  # x2: 36 MiB output + its working memory
    message = str(err.value)
    assert "\n" not in message and not calls
    for part in ("needs about", "36 MB output image", "only 30 MB is available", "--outscale", "--tile"):
        assert part in message
    up = Upscaler(model, tile=16, tile_overlap=8)
    assert up.upscale(np.zeros((24, 24, 3), np.uint8)).shape == (48, 48, 3)  # a small image still runs
    monkeypatch.setattr(streaming, "available_memory", lambda: None)  # unknown: never refuses
    assert up.upscale(np.zeros((16, 16, 3), np.uint8)).shape == (32, 32, 3)


def test_cli_reports_the_refusal_as_one_line_with_the_file(model, tmp_path, monkeypatch, capsys):
    from PIL import Image

    src = tmp_path / "big.png"
    Image.fromarray(np.zeros((600, 800, 3), np.uint8)).save(src)
    ckpt = tmp_path / "m.safetensors"
    swinsr.save_checkpoint(model, ckpt)
    monkeypatch.setattr(streaming, "available_memory", lambda: 4 * 2**20)
    try:
        main(["upscale", str(src), "--model", str(ckpt), "--tile", "64", "-o", str(tmp_path / "out.png")])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == 1 and not (tmp_path / "out.png").exists()
    line = next(line for line in err.splitlines() if "needs about" in line)
    assert "big.png" in line and "available" in line and "Traceback" not in err


def test_tight_memory_switches_to_low_memory_mode_once_and_tiles_are_trimmed(model, monkeypatch):
    from swinsr.inference import upscaler as upscaler_module

    switched, trims = [], []
    monkeypatch.setattr(upscaler_module, "return_freed_memory", lambda: switched.append(1) or True)
    monkeypatch.setattr(upscaler_module, "trim_freed_memory", lambda: trims.append(1) or True)
    needs = []
    real_check = upscaler_module.check_memory
    monkeypatch.setattr(upscaler_module, "check_memory", lambda n, o, d: needs.append(n) or real_check(n, o, d))
    up = Upscaler(model, tile=16, tile_overlap=8)
    monkeypatch.setattr(streaming, "available_memory", lambda: 1 << 40)  # plenty
    up.upscale(rand((40, 40, 3)))
    assert not switched and not up.low_memory and len(trims) == 9  # one trim per tile (3 x 3)
    monkeypatch.setattr(streaming, "available_memory", lambda: int(1.5 * needs[0]))  # fits, but not by half
    up.upscale(rand((40, 40, 3)))
    up.upscale(rand((40, 40, 3)))
    assert switched == [1] and up.low_memory


def test_glibc_memory_calls_apply_on_glibc():
    import platform

    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert streaming.trim_freed_memory()
    else:
        assert streaming.trim_freed_memory() in (True, False)


def test_uint8_tiles_are_converted_as_cut_and_equal_the_float_input_bitwise(model):
    arr = rand((50, 61, 3), np.uint8)
    as_int = torch.from_numpy(arr).permute(2, 0, 1)[None]  # a view, as the Upscaler passes it
    as_float = array_to_tensor(arr)
    outs = []
    for x in (as_int, as_float):
        blocks: list[torch.Tensor] = []
        with torch.no_grad():
            # several tile rows: the full-width buffer is reused between carry and bottom
            tiled_bands(model, x, lambda i, r, c, b: blocks.append(b.clone()), scale=2, tile=16, overlap=8, align=8)
        outs.append(torch.cat([b.flatten() for b in blocks]))
    assert torch.equal(outs[0], outs[1])


def test_streamed_8bit_upscale_never_builds_a_float_input_image(model, monkeypatch):
    import swinsr.inference.upscaler as upscaler_module

    def refuse(arr):
        raise AssertionError(f"float copy of the whole {arr.shape} input")

    up = Upscaler(model, tile=16, tile_overlap=8)
    arr = rand((41, 57, 3), np.uint8)
    expected = float_path(up, arr)
    monkeypatch.setattr(upscaler_module, "array_to_tensor", refuse)
    assert levels(up.upscale(arr), expected) <= 1.0


def test_trimmed_stages_trims_after_each_stage_and_leaves_outputs_alone(model, monkeypatch):
    calls = []
    monkeypatch.setattr(streaming, "trim_freed_memory", lambda: calls.append(1) or True)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        plain = model(x)
        with streaming.trimmed_stages(model):
            trimmed = model(x)
        stages = sum(len(c) for c in model.children() if isinstance(c, torch.nn.ModuleList))
        assert stages > 0 and len(calls) == stages
        model(x)  # hooks are removed afterwards
    assert len(calls) == stages
    assert torch.equal(plain, trimmed)


def test_cli_import_leaves_opencv_unloaded():
    # the upscale path never needs OpenCV (~16 MB resident); modules import it lazily (swinsr._lazy)
    import subprocess
    import sys

    code = "import sys, swinsr.cli; sys.exit('cv2' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


def test_lazy_module_loads_on_first_use():
    from swinsr._lazy import LazyModule

    lazy = LazyModule("json")
    assert "not loaded" in repr(lazy)
    assert lazy.dumps([1]) == "[1]" and "loaded" in repr(lazy)


@pytest.mark.parametrize("shape,dtype,outscale,name", [
    ((41, 57, 3), np.uint8, None, "a.png"), ((41, 57), np.uint8, None, "a.png"), ((33, 30, 3), np.uint16, None, "a.png"),
    ((37, 45, 3), np.uint8, 1.5, "a.png"), ((35, 42, 4), np.uint8, None, "a.png"), ((41, 57, 3), np.uint8, None, "a.jpg"),
])
def test_upscale_file_writes_what_upscale_then_write_image_writes(model, tmp_path, shape, dtype, outscale, name):
    from swinsr.imageio import read_image, write_image

    up = Upscaler(model, tile=16, tile_overlap=8)
    arr = rand(shape, dtype)
    up.upscale_file(arr, tmp_path / name, outscale=outscale)
    write_image(tmp_path / f"expected_{name}", up.upscale(arr, outscale=outscale))
    assert np.array_equal(read_image(tmp_path / name).array, read_image(tmp_path / f"expected_{name}").array)


def test_upscale_file_streams_png_rows_without_the_output_image(model, tmp_path, monkeypatch):
    up = Upscaler(model, tile=16, tile_overlap=8)
    arr = rand((41, 57, 3))
    expected = up.upscale(arr)
    bands: list[int] = []
    original = streaming.RowBands.__call__

    def spy(self, row0, col0, block):
        bands.append(block.shape[1])
        return original(self, row0, col0, block)

    monkeypatch.setattr(Upscaler, "upscale", lambda *a, **k: pytest.fail("PNG output must not build the image"))
    monkeypatch.setattr(streaming.RowBands, "__call__", spy)
    up.upscale_file(arr, tmp_path / "out.png")
    from swinsr.imageio import read_image

    assert np.array_equal(read_image(tmp_path / "out.png").array, expected)
    assert max(bands) < expected.shape[0]  # handed over band by band, never the whole image


def test_upscale_file_restarts_the_file_after_an_out_of_memory_retry(model, tmp_path, monkeypatch):
    from swinsr.imageio import read_image

    arr = rand((70, 66, 3))
    expected = Upscaler(model, tile=16, tile_overlap=8).upscale(arr)  # the tile the retry ends with
    up = Upscaler(model, tile=24, tile_overlap=8)
    calls = [0]
    original = up._forward_trimmed

    def flaky(x):
        calls[0] += 1
        if calls[0] == 5:  # after some rows are already in the file
            raise torch.OutOfMemoryError("CPU out of memory (test)")
        return original(x)

    monkeypatch.setattr(up, "_forward_trimmed", flaky)
    up.upscale_file(arr, tmp_path / "out.png")
    assert up.last_tile == 16 and calls[0] > 5
    assert np.array_equal(read_image(tmp_path / "out.png").array, expected)


def test_upscale_file_write_failure_keeps_the_old_file_and_leaves_no_temp(model, tmp_path, monkeypatch):
    from swinsr import pngstream

    up = Upscaler(model, tile=16, tile_overlap=8)
    target = tmp_path / "out.png"
    target.write_bytes(b"old")

    def full(self):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pngstream.PngWriter, "finish", full)
    with pytest.raises(ImageError, match="No space left"):
        up.upscale_file(rand((41, 57, 3)), target)
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
