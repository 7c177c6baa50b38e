"""A PNG encoder that works strip by strip, so writing a huge image costs almost no extra memory.

Pillow stores an RGB image with 4 bytes per pixel and encodes into an in-memory buffer that is
copied once more on the way out: writing a 50-megapixel upscale that way needed about 340 MB on
top of the 151 MB image. Here rows are filtered and deflated a strip at a time (a few MB) and
the compressed bytes go straight to the file.

Every PNG layout :func:`swinsr.imageio.write_image` produces is covered: gray, gray + alpha,
RGB and RGBA, 8 or 16 bits (16-bit samples are big-endian, as PNG wants). Rows are filtered
adaptively the way libpng's and Pillow's default heuristic does it (for each row, the filter
with the smallest sum of absolute signed residuals), so files are about the size Pillow writes.
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: channels -> PNG colour type (0 gray, 4 gray + alpha, 2 RGB, 6 RGBA)
COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}
#: raw bytes per strip: small next to any image worth streaming (the five filter candidates and
#: their costs take about 7x this), large enough for numpy to be fast
STRIP_BYTES = 2**20
#: compressed bytes per IDAT chunk (any size is valid; this keeps chunks of a sensible size)
IDAT_BYTES = 2**20


#: |byte as a signed value|: the per-byte cost of the filter heuristic (128 for 0x80)
_ABS_SIGNED = np.minimum(np.arange(256), 256 - np.arange(256)).astype(np.uint8)


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC of type + data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The Paeth predictor of every byte from its left (a), upper (b) and upper-left (c) neighbours."""
    a16, b16, c16 = (v.astype(np.int16) for v in (a, b, c))
    p = a16 + b16 - c16
    pa, pb, pc = np.abs(p - a16), np.abs(p - b16), np.abs(p - c16)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def filter_rows(rows: np.ndarray, above: np.ndarray, bpp: int) -> np.ndarray:
    """Adaptively filtered scanlines ``(n, 1 + row_bytes)`` (filter byte first) of raw ``rows``.

    ``rows`` is ``(n, row_bytes)`` uint8, ``above`` the raw row before the first one (zeros at
    the top of the image), ``bpp`` the bytes per pixel (the distance to the "left" byte). PNG
    filters predict from the raw (unfiltered) neighbours, so all rows filter independently.
    """
    n, width = rows.shape
    up = np.concatenate([above[None], rows[:-1]], axis=0)
    left = np.zeros_like(rows)
    left[:, bpp:] = rows[:, :-bpp]
    upper_left = np.zeros_like(rows)
    upper_left[:, bpp:] = up[:, :-bpp]
    average = ((left.astype(np.uint16) + up) >> 1).astype(np.uint8)
    # residuals of the five filters (none, sub, up, average, paeth), modulo 256
    candidates = [rows, rows - left, rows - up, rows - average, rows - _paeth(left, up, upper_left)]
    cost = np.stack([_ABS_SIGNED[c].sum(axis=1, dtype=np.int64) for c in candidates])  # (5, n)
    best = cost.argmin(axis=0)  # ties -> the lower filter number, as libpng
    out = np.empty((n, 1 + width), dtype=np.uint8)
    out[:, 0] = best
    for f, residual in enumerate(candidates):
        out[best == f, 1:] = residual[best == f]
    return out


class PngWriter:
    """Writes a PNG of a known size row band by row band: :meth:`write_rows` as rows become final, then :meth:`finish`.

    ``channels`` 1-4 (gray, gray + alpha, RGB, RGBA); ``dtype`` uint8 or uint16. Rows arrive as
    ``(n, width)`` or ``(n, width, channels)`` arrays, top to bottom; nothing but the current strip
    and the row above it is kept.
    """

    def __init__(
        self, stream: BinaryIO, width: int, height: int, channels: int, dtype: np.dtype, *, compress_level: int = 6
    ) -> None:
        dtype = np.dtype(dtype)
        if channels not in COLOR_TYPES or dtype not in (np.uint8, np.uint16):
            raise ValueError(f"cannot write {channels}-channel {dtype} images as PNG")
        if height < 1 or width < 1:
            raise ValueError(f"cannot write an empty image ({width}x{height}) as PNG")
        self.stream, self.width, self.height, self.channels, self.dtype = stream, width, height, channels, dtype
        depth = 16 if dtype == np.uint16 else 8
        self.bpp = channels * depth // 8
        self.row_bytes = width * self.bpp
        self.rows_written = 0
        self._deflate = zlib.compressobj(compress_level)
        self._pending = bytearray()
        self._above = np.zeros(self.row_bytes, dtype=np.uint8)
        stream.write(PNG_SIGNATURE)
        stream.write(_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, COLOR_TYPES[channels], 0, 0, 0)))

    def _emit(self, data: bytes, final: bool = False) -> None:
        self._pending.extend(data)
        while len(self._pending) >= IDAT_BYTES or (final and self._pending):
            self.stream.write(_chunk(b"IDAT", bytes(self._pending[:IDAT_BYTES])))
            del self._pending[:IDAT_BYTES]

    def write_rows(self, rows: np.ndarray) -> None:
        """Append ``rows`` (the next rows of the image, top to bottom)."""
        arr = np.asarray(rows)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.shape[1:] != (self.width, self.channels) or arr.dtype != self.dtype:
            raise ValueError(f"rows of shape {arr.shape} / {arr.dtype} do not fit a {self.width}-wide "
                             f"{self.channels}-channel {self.dtype} PNG")
        if self.rows_written + arr.shape[0] > self.height:
            raise ValueError(f"more rows than the PNG's height {self.height}")
        step = max(1, STRIP_BYTES // self.row_bytes)
        for r0 in range(0, arr.shape[0], step):
            strip = arr[r0 : r0 + step]
            if self.dtype == np.uint16:
                strip = strip.astype(">u2")
            raw = np.ascontiguousarray(strip).view(np.uint8).reshape(-1, self.row_bytes)
            self._emit(self._deflate.compress(filter_rows(raw, self._above, self.bpp).tobytes()))
            self._above = raw[-1].copy()
        self.rows_written += arr.shape[0]

    def finish(self) -> None:
        """End the file (every row must have been written)."""
        if self.rows_written != self.height:
            raise ValueError(f"PNG incomplete: {self.rows_written} of {self.height} rows written")
        self._emit(self._deflate.flush(), final=True)
        self.stream.write(_chunk(b"IEND", b""))


def write_png(stream: BinaryIO, array: np.ndarray, *, compress_level: int = 6) -> None:
    """Write ``array`` (``(H, W)`` or ``(H, W, 1-4)``, uint8 or uint16) to ``stream`` as a PNG, strip by strip."""
    arr = np.asarray(array)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"cannot write an array of shape {arr.shape} as PNG")
    writer = PngWriter(stream, arr.shape[1], arr.shape[0], arr.shape[2], arr.dtype, compress_level=compress_level)
    writer.write_rows(arr)
    writer.finish()
