"""Window partitioning, cyclic shift and the shifted-window attention mask.

Every Swin variant (SwinIR, Swin2SR, Swin V1/V2, :class:`~swinsr.layers.SwinT`) goes
through these helpers; nothing else in the package cuts tensors into windows.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from .fastpath import caching_allowed, shared_cached

# The reference implementations fill masked logits with -100 rather than -inf: after the
# softmax the masked weights are ~e-44, not exactly zero. Keeping the same constant is what
# makes outputs bit-comparable with released checkpoints.
MASK_FILL_VALUE = -100.0


def window_partition(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """Split ``(B, H, W, C)`` into windows ``(B, nW, window_size * window_size, C)``.

    ``H`` and ``W`` must be multiples of ``window_size`` (see :func:`pad_to_multiple`).
    """
    b, h, w, c = x.shape
    x = x.view(b, h // window_size, window_size, w // window_size, window_size, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, -1, window_size * window_size, c)


def window_reverse(windows: torch.Tensor, window_size: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: ``(B, nW, ws*ws, C)`` -> ``(B, H, W, C)``."""
    b, _, _, c = windows.shape
    x = windows.view(b, height // window_size, width // window_size, window_size, window_size, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, height, width, c)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad a channels-last ``(B, H, W, C)`` tensor at the bottom/right to a multiple."""
    _, h, w, _ = x.shape
    pad_h = (multiple - h % multiple) % multiple
    pad_w = (multiple - w % multiple) % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    return F.pad(x, (0, 0, 0, pad_w, 0, pad_h))


def cyclic_shift(x: torch.Tensor, shift: int) -> torch.Tensor:
    """Roll a ``(B, H, W, C)`` tensor by ``-shift`` along H and W (``shift < 0`` rolls back)."""
    if shift == 0:
        return x
    return torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))


def _region_ids(height: int, width: int, window_size: int, shift_size: int) -> torch.Tensor:
    """Label each pixel of the shifted map with the region it came from (3 x 3 regions)."""
    ids = torch.zeros(height, width)
    bounds = (slice(0, -window_size), slice(-window_size, -shift_size), slice(-shift_size, None))
    label = 0
    for hs in bounds:
        for ws in bounds:
            ids[hs, ws] = label
            label += 1
    return ids


def compute_shifted_window_mask(
    height: int, width: int, window_size: int, shift_size: int, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """Uncached :func:`shifted_window_mask` (what the reference rebuilds in every block)."""
    ids = _region_ids(height, width, window_size, shift_size)
    windows = window_partition(ids[None, :, :, None], window_size)[0, :, :, 0]  # nW, N
    different = windows[:, None, :] != windows[:, :, None]
    mask = torch.zeros(different.shape, dtype=dtype)
    mask.masked_fill_(different, MASK_FILL_VALUE)
    return mask.to(device)


_shifted_window_mask_cached = functools.lru_cache(maxsize=64)(compute_shifted_window_mask)


@functools.lru_cache(maxsize=64)
def _border_mask_patterns_cached(
    window_size: int, shift_size: int, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    # On a 2 x 2 window grid the windows are, in order: interior, right column, bottom row,
    # corner; every larger grid repeats exactly these four masks (see border_mask_patterns).
    side = 2 * window_size
    return compute_shifted_window_mask(side, side, window_size, shift_size, device, dtype)[1:].contiguous()


def border_mask_patterns(
    window_size: int,
    shift_size: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The three distinct non-zero shift masks, ``(3, N, N)``: right column, bottom row, corner.

    After the cyclic shift only the last window row and column mix pixels from regions that
    were not neighbours, and which regions meet depends only on the position inside the
    window. So for *any* map size, every window of the last column (except the corner) has
    the same mask, every window of the last row has another, the corner a third, and all other
    windows none. Attention can therefore run on four window groups with one broadcast mask
    each instead of a ``(nW, N, N)`` mask (see :meth:`WindowAttentionBase.forward_grid`).
    Cached per (window, shift, device, dtype); treat the result as read-only.
    """
    if shift_size <= 0:
        raise ValueError("border_mask_patterns needs shift_size > 0")
    return shared_cached(_border_mask_patterns_cached, int(window_size), int(shift_size), torch.device(device), dtype)


def _window_order(
    height: int, width: int, window_size: int, shift_size: int, device: torch.device, grouped: bool
) -> torch.Tensor:
    ids = torch.arange(height * width, device=device).view(1, height, width, 1)
    windows = window_partition(cyclic_shift(ids, shift_size), window_size)[0, :, :, 0]  # nW, N
    if grouped and shift_size:
        grid = windows.view(height // window_size, width // window_size, -1)
        parts = (grid[:-1, :-1], grid[:-1, -1:], grid[-1:, :-1], grid[-1:, -1:])
        windows = torch.cat([p.reshape(-1, windows.shape[-1]) for p in parts])
    return windows.reshape(-1)


def window_group_sizes(height: int, width: int, window_size: int, shift_size: int) -> list[int]:
    """Window counts of the groups in ``grouped`` order: one group unshifted; with a shift the
    interior, the right column, the bottom row and the corner (see :func:`border_mask_patterns`)."""
    nh, nw = height // window_size, width // window_size
    if not shift_size:
        return [nh * nw]
    return [(nh - 1) * (nw - 1), nh - 1, nw - 1, 1]


@functools.lru_cache(maxsize=64)
def _window_gather_indices_cached(
    height: int, width: int, crop: tuple[int, int], window_size: int, shift_size: int, device: torch.device,
    grouped: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    order = _window_order(height, width, window_size, shift_size, device, grouped)
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(order.numel(), device=device)
    inverse = inverse.view(height, width)[: crop[0], : crop[1]].reshape(-1)
    return order, inverse


def window_gather_indices(
    height: int,
    width: int,
    window_size: int,
    shift_size: int = 0,
    device: torch.device | str = "cpu",
    crop: tuple[int, int] | None = None,
    grouped: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token indices that fuse shift + partition (and reverse + unshift + crop) into one gather.

    For a row-major ``height x width`` map (window multiples), ``order`` lists, in (shifted)
    window order, the source token of each window slot: ``tokens.index_select(1, order)`` equals
    ``window_partition(cyclic_shift(x, shift), ws)`` flattened, but copies the data once instead
    of twice. ``inverse`` maps back and drops padding: ``windows.index_select(1, inverse)`` is the
    unshifted ``crop`` (default: the full map) in row-major order. With ``grouped`` (and a
    shift) the windows are ordered interior, right column, bottom row, corner instead of row
    by row, so each mask group is one contiguous slice (:func:`window_group_sizes`).
    Cached per arguments.
    """
    crop = crop or (height, width)
    if caching_allowed():
        # cache keys must be plain ints; under graph capture the sizes stay symbolic (no int()),
        # so exported graphs take any H and W
        height, width, crop = int(height), int(width), (int(crop[0]), int(crop[1]))
    return shared_cached(
        _window_gather_indices_cached,
        height, width, crop, int(window_size), int(shift_size), torch.device(device), bool(grouped),
    )


def shifted_window_mask(
    height: int,
    width: int,
    window_size: int,
    shift_size: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Additive attention mask ``(nW, N, N)`` for shifted-window attention on an H x W map.

    After the cyclic shift, windows at the bottom/right border contain pixels from up to four
    regions that were not neighbours in the image; tokens from different regions get
    ``-100`` so they effectively do not attend to each other. ``height``/``width`` must be
    multiples of ``window_size``. Results are cached per (size, window, shift, device,
    dtype), so each configuration is computed once; treat the returned tensor as read-only.
    """
    if shift_size <= 0:
        raise ValueError("shifted_window_mask needs shift_size > 0")
    return shared_cached(
        _shifted_window_mask_cached, int(height), int(width), int(window_size), int(shift_size), torch.device(device), dtype
    )
