"""The strip-by-strip PNG encoder: files every decoder reads back exactly, about Pillow's size."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from swinsr import pngstream
from swinsr.pngstream import filter_rows, write_png

RNG = np.random.default_rng(7)


def _natural(h: int, w: int, channels: int, dtype=np.uint8) -> np.ndarray:
    """Smooth gradients + texture + noise: rows where different filters win."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.3 * np.sin(xx / 7.0) * np.cos(yy / 11.0) + 0.1 * np.sin((xx + yy) / 3.0)
    top = np.iinfo(dtype).max
    planes = [np.clip(base + 0.05 * c + RNG.normal(0, 0.02, (h, w)), 0, 1) for c in range(channels)]
    arr = np.round(np.stack(planes, axis=-1) * top).astype(dtype)
    return arr[:, :, 0] if channels == 1 else arr


def _encode(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    write_png(buf, arr)
    return buf.getvalue()


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_round_trip_through_opencv_and_pillow(channels, dtype, monkeypatch):
    # tiny strips and IDAT chunks: many strips (the row above carried across) and many chunks
    monkeypatch.setattr(pngstream, "STRIP_BYTES", 64)
    monkeypatch.setattr(pngstream, "IDAT_BYTES", 100)
    arr = _natural(23, 17, channels, dtype)
    data = _encode(arr)
    back = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if channels == 3:
        back = back[:, :, ::-1]
    elif channels == 4:
        back = back[:, :, [2, 1, 0, 3]]
    elif channels == 2:  # OpenCV expands gray + alpha to BGRA
        back = back[:, :, [0, 3]]
    assert back.dtype == dtype and np.array_equal(back, arr)
    if dtype == np.uint8 or channels == 1:  # Pillow has no 16-bit colour modes
        pil = np.asarray(Image.open(io.BytesIO(data)))
        assert np.array_equal(pil.astype(arr.dtype), arr)


def test_adaptive_filters_are_used_and_size_is_close_to_pillows():
    arr = _natural(120, 160, 3)
    rows = arr.reshape(120, -1)
    filtered = filter_rows(rows, np.zeros(rows.shape[1], np.uint8), 3)
    assert len(np.unique(filtered[:, 0])) >= 2  # the heuristic really chooses per row
    ours = len(_encode(arr))
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=6)
    assert ours <= 1.1 * len(buf.getvalue())  # broken filtering (or none at all) costs far more


def test_every_filter_reconstructs():
    # force each filter in turn by handing the heuristic a single candidate row pattern per filter
    arr = _natural(40, 30, 4)
    rows = np.ascontiguousarray(arr).reshape(40, -1)
    above = np.zeros(rows.shape[1], np.uint8)
    out = filter_rows(rows, above, 4)
    # undo the filters independently of the encoder, byte by byte
    raw = np.zeros_like(rows, dtype=np.int64)
    for i in range(rows.shape[0]):
        kind, line = out[i, 0], out[i, 1:].astype(np.int64)
        up = raw[i - 1] if i else np.zeros(rows.shape[1], np.int64)
        for j in range(rows.shape[1]):
            a = raw[i, j - 4] if j >= 4 else 0
            b = up[j]
            c = up[j - 4] if j >= 4 else 0
            if kind == 0:
                pred = 0
            elif kind == 1:
                pred = a
            elif kind == 2:
                pred = b
            elif kind == 3:
                pred = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            raw[i, j] = (line[j] + pred) % 256
    assert np.array_equal(raw, rows)


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 5), np.uint8), np.zeros((4, 4), np.float32), np.zeros((0, 3), np.uint8)])
def test_bad_arrays_are_refused(bad):
    with pytest.raises(ValueError, match="PNG"):
        _encode(bad)


def test_writer_takes_rows_band_by_band_and_checks_them():
    arr = _natural(30, 20, 3)
    buf = io.BytesIO()
    writer = pngstream.PngWriter(buf, 20, 30, 3, np.uint8)
    for r0 in (0, 7, 19):  # uneven bands
        writer.write_rows(arr[r0 : {0: 7, 7: 19, 19: 30}[r0]])
    writer.finish()
    assert buf.getvalue() == _encode(arr)  # the same bytes as one call
    short = pngstream.PngWriter(io.BytesIO(), 20, 30, 3, np.uint8)
    with pytest.raises(ValueError, match="do not fit"):
        short.write_rows(arr[:, :10])
    short.write_rows(arr[:29])
    with pytest.raises(ValueError, match="incomplete"):
        short.finish()
    with pytest.raises(ValueError, match="more rows"):
        short.write_rows(arr[:2])
