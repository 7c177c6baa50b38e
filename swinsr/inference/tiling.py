"""Tiled inference with feathered blending: bounded memory, no seams.

The image is divided into a grid of *cores* of ``tile`` x ``tile`` low-resolution pixels. The
model runs on each core extended by ``overlap`` pixels of context on every side (clipped to the
image), so neighbouring tiles overlap by ``2 * overlap``. Tile edges are rounded outwards to the
model's window grid (``align``) so every tile sees the same attention windows as a whole-image
pass. Outputs are blended with raised-cosine weights that cross over at the core boundaries
over a band of ``overlap`` pixels: every pixel that contributes still has ``overlap / 2``
pixels of context, and the transition is smooth. Only one batch of tiles lives on the device;
the output buffer (and two 1-D blend-weight sums) live on the CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import OptionError

Forward = Callable[[torch.Tensor], torch.Tensor]
Progress = Callable[[int, int], None]
Pad = Callable[[torch.Tensor], torch.Tensor]

#: Working-memory budget for ``tile="auto"`` on the CPU, where free memory says little about
#: what is sensible to use (other processes, swap): 2 GiB of activations per tile batch.
CPU_TILE_BUDGET_BYTES = 2 * 1024**3
#: Fraction of free device memory ``tile="auto"`` plans to use on CUDA (the rest absorbs
#: allocator fragmentation and estimate error).
CUDA_FREE_FRACTION = 0.6
MIN_TILE = 16


@dataclass(frozen=True)
class Span:
    """One tile along one axis: its core ``[core0, core1)`` and processed range ``[start, stop)``."""

    core0: int
    core1: int
    start: int
    stop: int


def tile_spans(length: int, tile: int, overlap: int, align: int = 1) -> list[Span]:
    """Tiles along an axis of ``length`` pixels: cores of ``tile`` pixels (the last may be shorter),
    each processed with ``overlap`` pixels of context per side, edges rounded out to ``align``.
    """
    spans = []
    for core0 in range(0, length, tile):
        core1 = min(core0 + tile, length)
        start = max(0, (core0 - overlap) // align * align)
        stop = min(length, -(-(core1 + overlap) // align) * align)
        spans.append(Span(core0, core1, start, stop))
    return spans


def uniform_tile_side(tile: int, overlap: int, align: int = 1) -> int:
    """The largest processed tile :func:`tile_spans` can produce. With ``uniform`` every tile is
    widened to this side, so a compiled model sees one input shape for every image."""
    length = (align + 2) * tile + 2 * overlap  # long enough for every core position mod align
    return max(s.stop - s.start for s in tile_spans(length, tile, overlap, align))


def widen_span(span: Span, side: int, length: int) -> Span:
    """``span`` with its processed range grown to ``side`` pixels inside ``[0, length)``.

    Only context is added (its blend weight is zero beyond the overlap band), so the output is
    unchanged while every tile gets the same shape; an edge tile still ends at the image edge,
    where the model sees exactly what a whole-image pass sees.
    """
    if length < side:
        raise ValueError(f"cannot widen a tile to {side} pixels along an axis of {length}")
    start = min(span.start, length - side)
    return Span(span.core0, span.core1, start, start + side)


def _crossfade(u: torch.Tensor, band: float) -> torch.Tensor:
    """0 -> 1 raised cosine over ``u`` in ``[-band/2, band/2]`` (a step at 0 when ``band`` is 0)."""
    if band <= 0:
        return (u >= 0).float()
    t = (u / band + 0.5).clamp(0, 1)
    return 0.5 - 0.5 * torch.cos(math.pi * t)


def span_weights(span: Span, length: int, scale: int, band: float) -> torch.Tensor:
    """Blend weights for the output pixels of ``span`` (1 inside the core, fading across its inner boundaries)."""
    centres = (torch.arange(span.start * scale, span.stop * scale, dtype=torch.float32) + 0.5) / scale
    w = torch.ones_like(centres)
    if span.core0 > 0:
        w = w * _crossfade(centres - span.core0, band)
    if span.core1 < length:
        w = w * (1 - _crossfade(centres - span.core1, band))
    return w


def check_tile_args(tile: int, overlap: int) -> None:
    """Reject tile/overlap values that cannot work, naming the options."""
    if tile < 1:
        raise OptionError(f"--tile {tile}: must be a positive number of pixels (or 'auto')")
    if overlap < 0:
        raise OptionError(f"--tile-overlap {overlap}: must be >= 0")


def count_tiles(height: int, width: int, tile: int) -> int:
    """Number of tiles :func:`tiled_forward` runs for one ``height`` x ``width`` image."""
    return -(-height // tile) * -(-width // tile)


#: ``emit(image, row0, col0, block)`` receives a finished block of output pixels of batch image
#: ``image``: rows ``[row0, row0 + block.shape[-2])``, columns ``[col0, col0 + block.shape[-1])``,
#: ``(C_out, rows, cols)`` float32 on the CPU, normalised by the blend weights.
Emit = Callable[[int, int, int, torch.Tensor], None]


def tiled_forward(
    forward: Forward,
    x: torch.Tensor,
    *,
    scale: int,
    tile: int,
    overlap: int,
    align: int = 1,
    pad: Pad | None = None,
    batch_size: int = 1,
    device: torch.device | None = None,
    progress: Progress | None = None,
    uniform: int | None = None,
) -> torch.Tensor:
    """Run ``forward`` over overlapping tiles of ``x`` (B, C, H, W) and blend the outputs.

    ``forward`` maps ``(n, C, h, w)`` on ``device`` to ``(n, C_out, h*scale, w*scale)``.
    ``pad`` (e.g. the model's own window padding) is applied to the whole image first, so tiles
    at the bottom/right edge see the same padded pixels a whole-image pass would.
    Returns ``(B, C_out, H*scale, W*scale)`` float32 on the CPU. ``progress(done, total)`` is
    called after each batch of tiles. ``uniform`` (see :func:`uniform_tile_side`) widens every
    tile to that side (:func:`widen_span`; the padded image must be at least that large): one
    input shape for any image, which is what a compiled model needs to compile once.
    This is :func:`tiled_bands` collecting its bands into one float32 image.
    """
    b, _, h, w = x.shape
    out: list[torch.Tensor] = []  # one allocation once the channel count is known

    def collect(image: int, row0: int, col0: int, block: torch.Tensor) -> None:
        if not out:
            out.append(torch.empty(b, block.shape[0], h * scale, w * scale, dtype=torch.float32))
        out[0][image, :, row0 : row0 + block.shape[-2], col0 : col0 + block.shape[-1]] = block

    tiled_bands(forward, x, collect, scale=scale, tile=tile, overlap=overlap, align=align, pad=pad,
                batch_size=batch_size, device=device, progress=progress, uniform=uniform)
    return out[0]


def tiled_bands(
    forward: Forward,
    x: torch.Tensor,
    emit: Emit,
    *,
    scale: int,
    tile: int,
    overlap: int,
    align: int = 1,
    pad: Pad | None = None,
    batch_size: int = 1,
    device: torch.device | None = None,
    progress: Progress | None = None,
    uniform: int | None = None,
) -> None:
    """:func:`tiled_forward` that hands the output over block by block instead of returning it.

    Tiles run one tile row at a time, left to right. Output rows that no later tile row reaches
    are final once the row is done, and within them the columns left of the next tile's start
    are final after each tile: those blocks are normalised and passed to ``emit`` at once
    (each output pixel exactly once, cropped to ``H*scale`` x ``W*scale``; the blocks of one
    tile row share their rows and arrive left to right, tile rows top to bottom). Held in
    float: one tile's column window of the current tile row, and the full-width rows shared
    with the next tile row (about ``(2*overlap + align) * scale`` rows). Memory therefore does
    not grow with the image: the caller writes blocks straight into a uint8 image.
    Consecutive tiles of equal shape in a tile row share a device batch of up to ``batch_size``.
    ``x`` may also be a uint8 image (values 0-255): each tile is then converted to float in
    [0, 1] as it is cut, so the image never exists in float32 (4x its size) at all. Emitted
    blocks are views the sink may keep but must not write into.
    """
    check_tile_args(tile, overlap)
    device = device or x.device
    b, _, h, w = x.shape
    xp = pad(x) if pad is not None else x
    hp, wp = xp.shape[-2:]
    rows, cols = tile_spans(hp, tile, overlap, align), tile_spans(wp, tile, overlap, align)
    if uniform is not None:
        rows, cols = [widen_span(s, uniform, hp) for s in rows], [widen_span(s, uniform, wp) for s in cols]
    row_w = [span_weights(s, hp, scale, overlap) for s in rows]
    col_w = [span_weights(s, wp, scale, overlap) for s in cols]
    # The tiles form a grid and each tile's weight is row weight x column weight, so the summed
    # weight map is the outer product of two 1-D sums: no output-sized weight image is needed.
    row_total = _summed_weights(rows, row_w, hp * scale, scale)
    col_total = _summed_weights(cols, col_w, wp * scale, scale)
    out_h, out_w, width = h * scale, w * scale, wp * scale
    total = b * len(rows) * len(cols)
    step = max(1, batch_size)
    # runs of consecutive equal-width tiles, cut into device batches
    chunks: list[list[int]] = []
    for j, c in enumerate(cols):
        if chunks and len(chunks[-1]) < step and cols[chunks[-1][0]].stop - cols[chunks[-1][0]].start == c.stop - c.start:
            chunks[-1].append(j)
        else:
            chunks.append([j])
    done = 0
    for bi in range(b):
        carry: torch.Tensor | None = None  # full-width rows [r0 of this tile row, ...) from earlier tile rows
        for i, r in enumerate(rows):
            r0, r1 = r.start * scale, r.stop * scale
            fin = rows[i + 1].start * scale if i + 1 < len(rows) else r1  # rows < fin are final after this row
            bottom: torch.Tensor | None = None  # rows [fin, r1), full width: carried to the next tile row
            bottom_end = 0  # columns of bottom initialised so far (it may reuse carry's memory)
            win: torch.Tensor | None = None  # rows [r0, fin), columns [win0, win0 + win width)
            win0 = 0
            for chunk in chunks:
                crops = torch.stack([xp[bi, :, r.start : r.stop, cols[j].start : cols[j].stop] for j in chunk])
                if crops.dtype == torch.uint8:
                    crops = crops.float().div_(255.0)  # the same float32 division as array_to_tensor
                with torch.no_grad():
                    y = forward(crops.to(device)).float().cpu()
                if bottom is None:
                    if carry is not None and tuple(carry.shape[:2]) == (y.shape[1], r1 - fin) and carry.shape[1] <= fin - r0:
                        # one full-width buffer for both: carry columns are dead once the window
                        # has taken them, and bottom columns are zeroed just before first use
                        bottom, bottom_end = carry, 0
                    else:
                        bottom, bottom_end = torch.zeros(y.shape[1], r1 - fin, width), width
                        if carry is not None and carry.shape[1] > fin - r0:
                            bottom[:, : carry.shape[1] - (fin - r0)] += carry[:, fin - r0 :]
                for j, t in zip(chunk, y):
                    c0, c1 = cols[j].start * scale, cols[j].stop * scale
                    # weighted in place (y is this call's own output): no tile-sized temporaries
                    t.mul_(row_w[i][:, None]).mul_(col_w[j])
                    win = _extend_window(win, win0, c1, t.shape[0], fin - r0, carry)
                    if bottom_end < c1:  # carry columns < c1 are in the window now
                        bottom[:, :, bottom_end:c1] = 0
                        bottom_end = c1
                    win[:, :, c0 - win0 : c1 - win0] += t[:, : fin - r0]
                    bottom[:, :, c0:c1] += t[:, fin - r0 :]
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
                # columns left of the next tile's start receive nothing more in rows [r0, fin)
                last = chunk[-1]
                final_c = cols[last + 1].start * scale if last + 1 < len(cols) else width
                if final_c > win0 and win is not None:
                    rows_out, cols_out = min(fin, out_h) - r0, min(final_c, out_w) - win0
                    if rows_out > 0 and cols_out > 0:
                        # normalised in place: these columns are final and leave the window below
                        block = win[:, :rows_out, :cols_out]
                        block.div_(row_total[r0 : r0 + rows_out, None]).div_(col_total[win0 : win0 + cols_out])
                        emit(bi, r0, win0, block)
                    win = win[:, :, final_c - win0 :].clone()  # a copy: the emitted columns are freed
                    win0 = final_c
            carry = bottom


def _extend_window(
    win: torch.Tensor | None, win0: int, stop: int, channels: int, height: int, carry: torch.Tensor | None
) -> torch.Tensor:
    """The column window grown to end at output column ``stop``; new columns start from ``carry``
    (the contributions of earlier tile rows to these rows), zero below it."""
    have = 0 if win is None else win.shape[2]
    if win0 + have >= stop:
        assert win is not None
        return win
    grown = torch.zeros(channels, height, stop - win0)
    if win is not None:
        grown[:, :, :have] = win
    if carry is not None:
        k = min(height, carry.shape[1])
        grown[:, :k, have:] += carry[:, :k, win0 + have : stop]
    return grown


def _summed_weights(spans: list[Span], weights: list[torch.Tensor], length: int, scale: int) -> torch.Tensor:
    total = torch.zeros(length, dtype=torch.float32)
    for span, wgt in zip(spans, weights):
        total[span.start * scale : span.stop * scale] += wgt
    return total


def estimate_bytes_per_pixel(model: torch.nn.Module) -> float:
    """Peak activation bytes per low-resolution pixel of one forward (float32), with margin.

    Used to size ``tile="auto"`` where memory cannot be measured (CPU); each architecture
    declares its own estimate in its contract (:meth:`SRModel.estimate_bytes_per_pixel`).
    """
    from ..archs.contract import model_contract

    return float(model_contract(model).estimate_bytes_per_pixel())


def measure_bytes_per_pixel(forward: Forward, channels: int, device: torch.device, probe: int = 64) -> float:
    """Peak CUDA memory of ``forward`` on a ``probe`` x ``probe`` input, per pixel."""
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    with torch.no_grad():
        forward(torch.zeros(1, channels, probe, probe, device=device))
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) - base
    return max(peak, 1) / (probe * probe)


def auto_tile_size(bytes_per_pixel: float, budget_bytes: float, overlap: int, multiple: int = 8) -> int:
    """Largest core size (a multiple of ``multiple``, at least :data:`MIN_TILE`) whose processed tile
    (core + context on both sides + window rounding) fits the budget by the estimate."""
    side = int(math.sqrt(max(budget_bytes, 0.0) / max(bytes_per_pixel, 1e-9)))
    side = (side - 2 * overlap - 2 * multiple) // multiple * multiple
    return max(MIN_TILE, side)


def shrink_tile(tile: int, multiple: int = 8) -> int | None:
    """Next smaller tile to retry with after running out of memory (None when already minimal)."""
    if tile <= MIN_TILE:
        return None
    smaller = max(MIN_TILE, (tile * 3 // 4) // multiple * multiple)
    return smaller if smaller < tile else None


def is_out_of_memory(exc: BaseException) -> bool:
    """True for out-of-memory errors of any device (they are retried with a smaller tile)."""
    oom_type = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)
