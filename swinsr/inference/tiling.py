"""Tiled inference with feathered blending: bounded memory, no seams.

An image is cut into tiles of ``tile`` x ``tile`` low-resolution pixels that overlap their
neighbours by at least ``overlap`` pixels. Each tile's output is weighted by a ramp that falls
towards the tile's inner edges (where the model saw the least context) and the weighted tiles
are normalised by the summed weights, so overlapping outputs blend smoothly. Only a batch of
tiles lives on the device; the output and weight buffers live on the CPU.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from ..errors import OptionError

Forward = Callable[[torch.Tensor], torch.Tensor]
Progress = Callable[[int, int], None]

#: Working-memory budget for ``tile="auto"`` on the CPU, where free memory says little about
#: what is sensible to use (other processes, swap): 2 GiB of activations per tile batch.
CPU_TILE_BUDGET_BYTES = 2 * 1024**3
#: Fraction of free device memory ``tile="auto"`` plans to use on CUDA (the rest absorbs
#: allocator fragmentation and estimate error).
CUDA_FREE_FRACTION = 0.6
MIN_TILE = 16


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``min(tile, length)`` covering ``[0, length)``.

    Consecutive tiles overlap by at least ``overlap``; the last tile is aligned to the end, so
    all tiles have the same size (they can be batched) and may overlap more than ``overlap``.
    """
    if tile >= length:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def _ramp(n: int, ramp: int, fade_start: bool, fade_end: bool) -> torch.Tensor:
    """1-D weights of length ``n``: a raised-cosine rise over ``ramp`` samples at faded ends, else 1.

    Weights stay strictly positive so every output pixel has non-zero total weight.
    """
    w = torch.ones(n, dtype=torch.float32)
    ramp = min(ramp, n // 2)
    if ramp > 0:
        t = (torch.arange(ramp, dtype=torch.float32) + 0.5) / ramp
        rise = 0.5 - 0.5 * torch.cos(math.pi * t)
        if fade_start:
            w[:ramp] = rise
        if fade_end:
            w[n - ramp :] = rise.flip(0)
    return w


def check_tile_args(tile: int, overlap: int) -> None:
    """Reject tile/overlap combinations that cannot work, naming the options."""
    if tile < 1:
        raise OptionError(f"--tile {tile}: must be a positive number of pixels (or 'auto')")
    if overlap < 0:
        raise OptionError(f"--tile-overlap {overlap}: must be >= 0")
    if overlap >= tile:
        raise OptionError(f"--tile-overlap {overlap} must be smaller than --tile {tile}")


def count_tiles(height: int, width: int, tile: int, overlap: int) -> int:
    """Number of tiles :func:`tiled_forward` runs for one ``height`` x ``width`` image."""
    return len(tile_starts(height, tile, overlap)) * len(tile_starts(width, tile, overlap))


def tiled_forward(
    forward: Forward,
    x: torch.Tensor,
    *,
    scale: int,
    tile: int,
    overlap: int,
    batch_size: int = 1,
    device: torch.device | None = None,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Run ``forward`` over overlapping tiles of ``x`` (B, C, H, W) and blend the outputs.

    ``forward`` maps ``(n, C, h, w)`` on ``device`` to ``(n, C_out, h*scale, w*scale)``.
    Returns ``(B, C_out, H*scale, W*scale)`` float32 on the CPU. ``progress(done, total)`` is
    called after each batch of tiles.
    """
    check_tile_args(tile, overlap)
    device = device or x.device
    b, _, h, w = x.shape
    th, tw = min(tile, h), min(tile, w)
    ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
    boxes = [(y0, x0) for y0 in ys for x0 in xs]
    total = b * len(boxes)
    ramp = overlap * scale
    out: torch.Tensor | None = None
    weight = torch.zeros(1, 1, h * scale, w * scale, dtype=torch.float32)
    # weights depend only on which sides of a tile touch the image border
    weight_cache: dict[tuple[bool, bool, bool, bool], torch.Tensor] = {}

    def tile_weight(y0: int, x0: int) -> torch.Tensor:
        key = (y0 > 0, y0 + th < h, x0 > 0, x0 + tw < w)
        if key not in weight_cache:
            wy = _ramp(th * scale, ramp, key[0], key[1])
            wx = _ramp(tw * scale, ramp, key[2], key[3])
            weight_cache[key] = wy[:, None] * wx[None, :]
        return weight_cache[key]

    done = 0
    for bi in range(b):
        for i in range(0, len(boxes), max(1, batch_size)):
            chunk = boxes[i : i + max(1, batch_size)]
            crops = torch.stack([x[bi, :, y0 : y0 + th, x0 : x0 + tw] for y0, x0 in chunk]).to(device)
            with torch.no_grad():
                y = forward(crops).float().cpu()
            if out is None:
                out = torch.zeros(b, y.shape[1], h * scale, w * scale, dtype=torch.float32)
            for (y0, x0), t in zip(chunk, y):
                wt = tile_weight(y0, x0)
                ys_, xs_ = slice(y0 * scale, (y0 + th) * scale), slice(x0 * scale, (x0 + tw) * scale)
                out[bi, :, ys_, xs_] += t * wt
                if bi == 0:
                    weight[0, 0, ys_, xs_] += wt
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    assert out is not None
    return out / weight


def estimate_bytes_per_pixel(model: torch.nn.Module) -> float:
    """Rough peak activation bytes per low-resolution pixel for one forward pass of an SR model.

    Counts the large float32 tensors alive inside a Swin block (tokens x channels for qkv, MLP,
    residuals; windows x heads x window^2 for attention) and the upsampler's feature maps, with
    a 1.5x margin. Used to size ``tile="auto"`` where memory cannot be measured (CPU).
    """
    config = getattr(model, "config", None) or {}
    dim = int(config.get("embed_dim", 96))
    heads = max(config.get("num_heads", [6]) or [6])
    window = int(getattr(model, "window_size", 8))
    mlp_ratio = float(config.get("mlp_ratio", 2.0))
    scale = int(getattr(model, "upscale", 1))
    per_px = 10 * dim + 2 * heads * window * window + 2 * mlp_ratio * dim + 3 * 64 * scale * scale
    return 4.0 * per_px * 1.5


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


def auto_tile_size(bytes_per_pixel: float, budget_bytes: float, multiple: int = 8) -> int:
    """Largest tile side (a multiple of ``multiple``, at least :data:`MIN_TILE`) whose estimated use fits the budget."""
    side = int(math.sqrt(max(budget_bytes, 0.0) / max(bytes_per_pixel, 1e-9)))
    side = side // multiple * multiple
    return max(MIN_TILE, side)


def shrink_tile(tile: int, multiple: int = 8) -> int | None:
    """Next smaller tile to retry with after running out of memory (None when already minimal)."""
    if tile <= MIN_TILE:
        return None
    smaller = max(MIN_TILE, (tile * 3 // 4) // multiple * multiple)
    return smaller if smaller < tile else None


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA/MPS out-of-memory errors (which are retried with a smaller tile)."""
    oom_type = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
