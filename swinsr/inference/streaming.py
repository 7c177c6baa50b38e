"""Streamed output: finished blocks of model output written straight into the final uint8/uint16 image.

:func:`swinsr.inference.tiling.tiled_bands` hands over finished output blocks (tile rows top to
bottom, left to right within one). The sinks here turn those float blocks into the final image
without ever holding a full float32 copy of it: :class:`ArrayWriter` quantises a block into a
preallocated array (the same clamp / scale / round as
:func:`swinsr.inference.arrays.tensor_to_array`), :class:`RowAssembler` + :class:`BandResizer`
apply ``--outscale`` (antialiased bicubic, as :func:`~swinsr.inference.arrays.resize_antialiased`)
with a rolling window of rows, and :func:`bicubic_bands` upscales an alpha channel in bands.
:func:`available_memory` and :func:`check_memory` refuse, before any work, an image whose
output and working memory cannot fit.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..allocator import trim_freed_memory
from ..errors import ImageError

#: ``sink(row0, col0, block)``: a ``(C, rows, cols)`` float32 block of one image at ``(row0, col0)``.
Sink = Callable[[int, int, torch.Tensor], None]
#: ``row_sink(row0, band)``: whole rows ``[row0, row0 + band.shape[1])``, ``(C, rows, W)`` float32.
RowSink = Callable[[int, torch.Tensor], None]

_INT_MAX = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
MB = 2**20


class ArrayWriter:
    """Writes float blocks in [0, 1] into channels ``[c0, c0 + C)`` of an ``(H, W, C_total)`` array.

    Integer arrays get exactly :func:`~swinsr.inference.arrays.tensor_to_array`'s rounding
    (clamp, scale, round half to even), floats the clamped values, so a streamed image equals
    the whole-image float path.
    """

    def __init__(self, out: np.ndarray, c0: int = 0) -> None:
        self.out = out
        self.c0 = c0
        self.pixels_written = 0

    #: values quantised at a time (4 MB of float): the temporaries stay small whatever the block
    #: size, and the steps stay few (each op has a fixed cost, large when the cores are busy)
    STEP_VALUES = 2**20

    def __call__(self, row0: int, col0: int, block: torch.Tensor) -> None:
        dtype = self.out.dtype
        channels, rows, cols = block.shape
        step = max(1, self.STEP_VALUES // max(1, channels * cols))
        for r in range(0, rows, step):
            img = block[:, r : r + step].clamp(0, 1)
            if dtype in _INT_MAX:
                img = img.mul_(_INT_MAX[dtype]).round_().to(torch.uint8 if dtype == np.uint8 else torch.int32)
            top = row0 + r
            self.out[top : top + img.shape[1], col0 : col0 + cols, self.c0 : self.c0 + channels] = img.permute(1, 2, 0).numpy()
        self.pixels_written += rows * cols

    def rows(self, row0: int, band: torch.Tensor) -> None:
        """Whole rows (a :data:`RowSink`)."""
        self(row0, 0, band)


class RowBands:
    """Turns the blocks of :func:`~swinsr.inference.tiling.tiled_bands` into finished rows for ``on_rows``.

    The blocks of one tile row share their rows and arrive left to right, tile rows top to bottom,
    so a band of rows is final as soon as its last block arrives: it is quantised into one
    ``(rows, width, channels)`` array of the output dtype and handed over whole (e.g. to a
    :class:`~swinsr.pngstream.PngWriter`). Only that band is ever held, never the output image.
    Also a :data:`RowSink` (:meth:`rows`) for the ``--outscale`` resizer.
    """

    def __init__(self, width: int, channels: int, dtype: np.dtype, on_rows: Callable[[np.ndarray], None]) -> None:
        self.width, self.channels, self.dtype, self.on_rows = width, channels, np.dtype(dtype), on_rows
        self.band: np.ndarray | None = None
        self.band_row0 = 0
        self.next_row = 0

    def __call__(self, row0: int, col0: int, block: torch.Tensor) -> None:
        if self.band is None:
            if row0 != self.next_row:
                raise RuntimeError(f"rows must arrive in order: expected row {self.next_row}, got {row0}")
            self.band = np.empty((block.shape[1], self.width, self.channels), dtype=self.dtype)
            self.band_row0 = row0
        elif row0 != self.band_row0:
            raise RuntimeError(f"row band {self.band_row0} is incomplete when row {row0} arrives")
        ArrayWriter(self.band)(0, col0, block)
        if col0 + block.shape[-1] >= self.width:
            band, self.band = self.band, None
            self.next_row = self.band_row0 + band.shape[0]
            self.on_rows(band)

    def rows(self, row0: int, band: torch.Tensor) -> None:
        """Whole rows (a :data:`RowSink`)."""
        self(row0, 0, band)


class RowAssembler:
    """Collects the blocks of a row band (same rows, left to right) into whole rows for a :data:`RowSink`.

    Used in front of :class:`BandResizer` (``--outscale``), which needs whole rows; it holds one
    band of rows, so the streamed output with ``--outscale`` keeps a full-width float band.
    """

    def __init__(self, width: int, sink: RowSink) -> None:
        self.width = width
        self.sink = sink
        self.band: torch.Tensor | None = None
        self.row0 = -1

    def __call__(self, row0: int, col0: int, block: torch.Tensor) -> None:
        if col0 == 0 and block.shape[-1] == self.width:  # already whole rows
            self.sink(row0, block)
            return
        if self.band is None or row0 != self.row0:
            self.band = torch.empty(block.shape[0], block.shape[1], self.width)
            self.row0 = row0
        self.band[:, :, col0 : col0 + block.shape[-1]] = block
        if col0 + block.shape[-1] == self.width:
            band, self.band = self.band, None
            self.sink(row0, band)


def _axis_weights(n_in: int, n_out: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse rows of the antialiased-bicubic resampling matrix along one axis.

    Returns ``(first, weights)``: output row ``o`` is ``sum_k weights[o, k] * input[first[o] + k]``.
    The matrix is taken from :func:`torch.nn.functional.interpolate` itself (resizing one-hot
    columns, a few at a time), so the band-wise resize has the same weights as the whole-image
    one; PyTorch's antialiased resize is separable, so one axis can be done on its own.
    """
    chunk = 256
    cols = []
    for j0 in range(0, n_in, chunk):
        j1 = min(n_in, j0 + chunk)
        eye = torch.zeros(1, 1, n_in, j1 - j0)
        eye[0, 0, torch.arange(j0, j1), torch.arange(j1 - j0)] = 1.0
        cols.append(F.interpolate(eye, size=(n_out, j1 - j0), mode="bicubic", align_corners=False, antialias=True)[0, 0])
    matrix = torch.cat(cols, dim=1)  # (n_out, n_in): one copy, only as large as one axis squared / 4
    nonzero = matrix != 0
    first = torch.where(nonzero.any(1), nonzero.float().argmax(1), torch.zeros(n_out, dtype=torch.long))
    last = n_in - 1 - nonzero.flip(1).float().argmax(1)
    width = int((last - first).max()) + 1
    idx = (first[:, None] + torch.arange(width)[None]).clamp(max=n_in - 1)
    weights = torch.gather(matrix, 1, idx) * ((first[:, None] + torch.arange(width)[None]) < n_in)
    return first, weights


class BandResizer:
    """Resizes a stream of bands from ``(H_in, W_in)`` to ``(H_out, W_out)`` and passes them on.

    Each incoming band is resized along its width at once (whole rows are available); along the
    height the rows are kept until every output row that needs them is complete, so only
    a few rows more than the kernel support are held. Inputs are clamped to [0, 1] first and
    results after, as the whole-image :func:`~swinsr.inference.arrays.resize_antialiased`.
    """

    def __init__(self, in_size: tuple[int, int], out_size: tuple[int, int], sink: RowSink) -> None:
        self.in_h, self.in_w = in_size
        self.out_h, self.out_w = out_size
        self.sink = sink
        self.first, self.weights = _axis_weights(self.in_h, self.out_h)
        self.last_needed = self.first + self.weights.shape[1]  # exclusive input row bound per output row
        self.rows: torch.Tensor | None = None  # width-resized input rows [rows0, rows0 + len)
        self.rows0 = 0
        self.next_out = 0

    def __call__(self, row0: int, band: torch.Tensor) -> None:
        band = band.clamp(0, 1)
        if band.shape[-1] != self.out_w:
            band = F.interpolate(band[None], size=(band.shape[1], self.out_w), mode="bicubic",
                                 align_corners=False, antialias=True)[0]
        self.rows = band if self.rows is None else torch.cat([self.rows, band], dim=1)
        available = row0 + band.shape[1]
        stop = self.next_out
        while stop < self.out_h and int(self.last_needed[stop].clamp(max=self.in_h)) <= available:
            stop += 1
        if stop > self.next_out:
            self._emit(self.next_out, stop)
        # rows no later output row needs are dropped
        keep_from = int(self.first[stop]) if stop < self.out_h else available
        if keep_from > self.rows0:
            self.rows = self.rows[:, keep_from - self.rows0 :].clone()
            self.rows0 = keep_from

    def _emit(self, o0: int, o1: int, chunk: int = 32) -> None:
        """Output rows ``[o0, o1)``, in chunks: each is a small dense (rows x support) matrix product."""
        assert self.rows is not None
        for c0 in range(o0, o1, chunk):
            c1 = min(o1, c0 + chunk)
            lo = int(self.first[c0])
            hi = min(self.in_h, int(self.last_needed[c0:c1].max()))
            dense = torch.zeros(c1 - c0, hi - lo)
            for r in range(c0, c1):  # scatter each output row's taps into the chunk's matrix
                f, k = int(self.first[r]) - lo, min(self.weights.shape[1], hi - int(self.first[r]))
                dense[r - c0, f : f + k] = self.weights[r, :k]
            src = self.rows[:, lo - self.rows0 : hi - self.rows0]  # (C, support rows, W)
            out = torch.einsum("rk,ckw->crw", dense, src)
            self.sink(c0, out.clamp_(0, 1))
        self.next_out = o1


def bicubic_bands(x: torch.Tensor, scale: int, sink: RowSink, rows: int = 64) -> None:
    """``F.interpolate(x, scale_factor=scale, mode="bicubic")`` of a ``(C, H, W)`` image, in bands.

    Each band of ``rows`` input rows is interpolated with 4 rows of context on both sides
    (the bicubic kernel reaches 2), and the output rows of its core are passed to ``sink``:
    the same values as the whole-image call, without an output-sized float image.
    """
    h = x.shape[1]
    margin = 4
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        a, b = max(0, r0 - margin), min(h, r1 + margin)
        up = F.interpolate(x[None, :, a:b], scale_factor=scale, mode="bicubic", align_corners=False)[0]
        sink(r0 * scale, up[:, (r0 - a) * scale : (r1 - a) * scale])


def available_memory() -> int | None:
    """Bytes this process can still allocate: ``MemAvailable``, capped by a cgroup limit; None if unknown."""
    avail: int | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError):
        avail = None
    try:  # cgroup v2: a container limit can be far below the machine's free memory
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
            room = max(0, int(limit) - used)
            avail = room if avail is None else min(avail, room)
    except (OSError, ValueError):
        pass
    if avail is None and hasattr(os, "sysconf"):
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            avail = None
    return avail


def check_memory(needed: float, output: float, describe: str) -> int | None:
    """Refuse (:class:`ImageError`) when ``needed`` bytes exceed :func:`available_memory`.

    ``output`` is the part the output image itself takes, ``describe`` names the job
    (``"2048x1536 x4 -> 8192x6144"``). The message names the way out: a smaller output
    (``--outscale``) or smaller tiles. Returns the available bytes (None: unknown).
    """
    avail = available_memory()
    if avail is None or needed <= avail:
        return avail
    raise ImageError(
        f"{describe} needs about {needed / MB:,.0f} MB ({output / MB:,.0f} MB output image + "
        f"{(needed - output) / MB:,.0f} MB working memory) but only {avail / MB:,.0f} MB is available; "
        "use --outscale for a smaller output or a smaller --tile"
    )


@contextlib.contextmanager
def trimmed_stages(model: torch.nn.Module) -> Iterator[None]:
    """While active, the heap is also trimmed after each stage of ``model`` (the elements of its
    top-level ``nn.ModuleList`` children: SwinIR's residual groups, HAT's, DAT's, ...).

    Inside one tile forward, feature maps of a stage are freed in an order that leaves holes the
    next stage cannot always reuse; trimming there too kept the default x4 model's per-tile peak
    about 12 MB lower (328-pixel tiles, no measurable time cost: a trim is a heap walk, ~1 ms).
    """
    def trim_after(module: torch.nn.Module, args: object, output: object) -> None:
        trim_freed_memory()  # returns None: the stage's output is left alone

    handles = [
        stage.register_forward_hook(trim_after)
        for child in model.children()
        if isinstance(child, torch.nn.ModuleList)
        for stage in child
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


