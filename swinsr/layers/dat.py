"""DAT's pieces of the block library: rectangle-window and channel attention with interaction gates.

DAT (Chen et al., ICCV 2023, "Dual Aggregation Transformer") alternates two blocks:

* the *spatial* block (:class:`AdaptiveSpatialAttention`) attends inside rectangle windows
  ``(H_sp, W_sp)``: half of the channels (and heads) use horizontal ``split_size`` windows, the
  other half the transposed ones; q/k/v are zero-padded (after the projection) to a multiple of
  ``max(split_size)`` and, on the reference schedule (:func:`dat_block_shifted`), cyclically
  shifted by half a window with the usual -100 region masks. The position bias comes from a
  small MLP over relative offsets (:class:`DynamicPosBias`), so it depends only on weights;
* the *channel* block (:class:`AdaptiveChannelAttention`) is transposed attention over the
  whole image: ``head_dim x head_dim`` maps of L2-normalised q/k scaled by a learned
  per-head ``temperature``.

Both add a depthwise-conv branch on ``v`` and mix the two branches with a channel gate and a
spatial gate (BatchNorm inside; eval uses the running statistics). The feed-forward is the
spatial-gate FFN (:class:`SGFN`). Parameter and buffer names are the reference ones, so
released state dicts load without renaming.

Fast path (default): per-window attention runs in the fused ``scaled_dot_product_attention``
kernel (via :meth:`WindowAttentionBase._attend`, the one attention call of the library) on
4-D inputs; shifted windows are processed in four groups (interior / right column / bottom
row / corner) that each share one mask, and the bias + masks are cached in eval until the
weights change. The channel attention is the same on both paths: its ``head_dim x head_dim``
maps cost ~2% of a DAT-light forward (profiled, CPU), and SDPA would see a "head dim" of H*W.
The plain path (:func:`~swinsr.layers.fastpath.plain_path`) follows the reference step by step.
"""

from __future__ import annotations

import functools
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import WindowAttentionBase
from .fastpath import caching_allowed, fast_path_enabled, shared_cached, tensor_versions
from .mlp import DropPath
from .windows import MASK_FILL_VALUE


# ----------------------------------------------------------------------------- windows and masks


def dat_block_shifted(rg_idx: int, b_idx: int) -> bool:
    """Whether block ``b_idx`` of residual group ``rg_idx`` uses shifted windows (reference schedule).

    Only spatial blocks (even ``b_idx``) attend in windows; of those, even groups shift blocks
    2, 6, 10, ... and odd groups shift blocks 0, 4, 8, ...
    """
    if rg_idx % 2 == 0:
        return b_idx > 0 and (b_idx - 2) % 4 == 0
    return b_idx % 4 == 0


def rect_window_partition(x: torch.Tensor, h_sp: int, w_sp: int) -> torch.Tensor:
    """``(B, H, W, C)`` -> ``(B * nW, h_sp * w_sp, C)`` row-major rectangle windows (H, W multiples)."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // h_sp, h_sp, w // w_sp, w_sp, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, h_sp * w_sp, c)


def rect_window_reverse(windows: torch.Tensor, h_sp: int, w_sp: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`rect_window_partition`: ``(B * nW, h_sp * w_sp, C)`` -> ``(B, H, W, C)``."""
    c = windows.shape[-1]
    x = windows.reshape(-1, height // h_sp, width // w_sp, h_sp, w_sp, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, height, width, c)


def rect_shift_mask(
    height: int, width: int, h_sp: int, w_sp: int, shift_h: int, shift_w: int, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``(nW, N, N)`` additive mask of shifted ``h_sp x w_sp`` windows on an ``height x width`` map.

    The Swin construction on rectangles: after the cyclic shift, pixels from the 3 x 3 regions
    split at ``-h_sp``/``-shift_h`` (rows) and ``-w_sp``/``-shift_w`` (columns) must not attend
    to each other; they get -100 (the reference constant), everything else 0. Recomputed on
    every call, as the reference does (see :func:`rect_border_masks` for the cached form).
    """
    ids = torch.zeros(1, height, width, 1)
    rows = (slice(0, -h_sp), slice(-h_sp, -shift_h), slice(-shift_h, None))
    cols = (slice(0, -w_sp), slice(-w_sp, -shift_w), slice(-shift_w, None))
    label = 0
    for hs in rows:
        for ws in cols:
            ids[:, hs, ws, :] = label
            label += 1
    windows = rect_window_partition(ids, h_sp, w_sp)[..., 0]  # nW, N
    diff = windows[:, None, :] - windows[:, :, None]
    return torch.zeros(diff.shape, dtype=dtype).masked_fill_(diff != 0, MASK_FILL_VALUE)


@functools.lru_cache(maxsize=64)
def _rect_border_masks_cached(h_sp: int, w_sp: int, shift_h: int, shift_w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    # On a 2 x 2 grid of windows the order is interior, right column, bottom row, corner; any
    # larger (padded) map repeats exactly these masks, by the argument of border_mask_patterns.
    return rect_shift_mask(2 * h_sp, 2 * w_sp, h_sp, w_sp, shift_h, shift_w, dtype)[1:].to(device).contiguous()


def rect_border_masks(
    h_sp: int, w_sp: int, shift_h: int, shift_w: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The three distinct non-zero masks ``(3, N, N)`` (right column, bottom row, corner) of shifted
    rectangle windows, for any map size; cached, treat as read-only."""
    return shared_cached(_rect_border_masks_cached, int(h_sp), int(w_sp), int(shift_h), int(shift_w), torch.device(device), dtype)


def rect_relative_offsets(h_sp: int, w_sp: int) -> torch.Tensor:
    """DAT's ``rpe_biases``: every relative offset ``(dh, dw)`` of the window, ``((2h-1)(2w-1), 2)`` float."""
    grid = torch.meshgrid(torch.arange(1 - h_sp, h_sp), torch.arange(1 - w_sp, w_sp), indexing="ij")
    return torch.stack(grid).flatten(1).transpose(0, 1).contiguous().float()


def rect_relative_position_index(h_sp: int, w_sp: int) -> torch.Tensor:
    """``(N, N)`` row of :func:`rect_relative_offsets` for each token pair (reference ``relative_position_index``)."""
    coords = torch.stack(torch.meshgrid(torch.arange(h_sp), torch.arange(w_sp), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)
    return (rel[:, :, 0] + h_sp - 1) * (2 * w_sp - 1) + (rel[:, :, 1] + w_sp - 1)


def _weights_key(module: nn.Module, sources: Sequence[torch.Tensor], *extra: object) -> tuple | None:
    """Cache identity of values computed from ``sources`` (same rule as the window attention cache).

    ``None`` (do not cache) in training, under graph capture, and while autograd needs the
    values' gradient; otherwise storage pointers and in-place version counters, so an
    optimizer step, ``load_state_dict`` or ``.to()`` invalidates the cache.
    """
    if module.training or not caching_allowed():
        return None
    if torch.is_grad_enabled() and any(t.requires_grad for t in sources):
        return None
    versions = tensor_versions(sources)
    if versions is None:  # inference tensors have no version counter
        return None
    return (*extra, torch.is_inference_mode_enabled(), versions)


# ----------------------------------------------------------------------------- position bias


class DynamicPosBias(nn.Module):
    """Position bias from an MLP over relative offsets (reference ``DynamicPosBias``, from CrossFormer).

    ``pos_proj`` lifts ``(dh, dw)`` to ``dim // 4`` features, three ``LayerNorm -> ReLU ->
    Linear`` stages (``pos1``..``pos3``) map them to one value per head; with ``residual`` the
    first two stages are residual.
    """

    def __init__(self, dim: int, num_heads: int, residual: bool = False):
        super().__init__()
        self.residual = residual
        self.num_heads = num_heads
        self.pos_dim = dim // 4
        self.pos_proj = nn.Linear(2, self.pos_dim)

        def stage(out: int) -> nn.Sequential:
            return nn.Sequential(nn.LayerNorm(self.pos_dim), nn.ReLU(inplace=True), nn.Linear(self.pos_dim, out))

        self.pos1, self.pos2, self.pos3 = stage(self.pos_dim), stage(self.pos_dim), stage(num_heads)

    def forward(self, offsets: torch.Tensor) -> torch.Tensor:
        """``(M, 2)`` offsets -> ``(M, num_heads)`` biases."""
        pos = self.pos_proj(offsets)
        if self.residual:
            pos = pos + self.pos1(pos)
            pos = pos + self.pos2(pos)
            return self.pos3(pos)
        return self.pos3(self.pos2(self.pos1(pos)))


class RectWindowAttention(nn.Module):
    """Attention inside ``h_sp x w_sp`` rectangle windows of one channel half (reference ``Spatial_Attention``).

    It holds no projections (the parent's ``qkv``/``proj`` serve both halves), only the
    position-bias MLP ``pos`` and the derived ``rpe_biases`` / ``relative_position_index``.

    Args:
        dim: channels of this half.
        idx: 0 for ``split_size`` windows, 1 for the transposed ones.
        split_size: ``(H_sp, W_sp)`` of orientation 0.
        num_heads: heads of this half.
        attn_drop: dropout on the attention weights.
        qk_scale: override ``head_dim ** -0.5``.
    """

    def __init__(
        self, dim: int, idx: int, split_size: Sequence[int], num_heads: int, attn_drop: float = 0.0, qk_scale: float | None = None
    ):
        super().__init__()
        if idx not in (0, 1):
            raise ValueError(f"idx must be 0 or 1, got {idx}")
        self.dim, self.idx, self.num_heads = dim, idx, num_heads
        self.h_sp, self.w_sp = (split_size[0], split_size[1]) if idx == 0 else (split_size[1], split_size[0])
        self.scale = qk_scale or (dim // num_heads) ** -0.5
        self.attn_drop_p = attn_drop
        self.pos = DynamicPosBias(dim // 4, num_heads, residual=False)
        # derived from the window shape; the reference saves them, loading ignores them
        self.register_buffer("rpe_biases", rect_relative_offsets(self.h_sp, self.w_sp), persistent=False)
        self.register_buffer("relative_position_index", rect_relative_position_index(self.h_sp, self.w_sp), persistent=False)
        self._mask_cache: tuple[tuple, torch.Tensor] | None = None

    @property
    def tokens(self) -> int:
        """Tokens per window."""
        return self.h_sp * self.w_sp

    def reference_buffers(self) -> dict[str, torch.Tensor]:
        """The derived buffers as the reference stores them."""
        return {
            "rpe_biases": rect_relative_offsets(self.h_sp, self.w_sp),
            "relative_position_index": rect_relative_position_index(self.h_sp, self.w_sp),
        }

    def position_bias(self) -> torch.Tensor:
        """``(heads, N, N)`` additive bias for one window (always recomputed)."""
        n = self.tokens
        table = self.pos(self.rpe_biases)
        return table[self.relative_position_index.view(-1)].view(n, n, -1).permute(2, 0, 1)

    def group_masks(self, shifted: bool, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """``(1 | 4, heads, N, N)``: the bias alone, or bias + the interior/right/bottom/corner masks.

        Cached in eval (the position-bias MLP then runs once, not once per forward) until the
        weights change; recomputed in training.
        """
        sources = [*self.pos.parameters(), self.rpe_biases, self.relative_position_index]
        key = _weights_key(self, sources, shifted, device, dtype)
        if key is not None and self._mask_cache is not None and self._mask_cache[0] == key:
            return self._mask_cache[1]
        bias = self.position_bias().to(device=device, dtype=dtype)
        if shifted:
            patterns = rect_border_masks(self.h_sp, self.w_sp, self.h_sp // 2, self.w_sp // 2, device, dtype)
            masks = torch.cat([bias[None], bias[None] + patterns[:, None]])
        else:
            masks = bias[None]
        if key is not None:
            self._mask_cache = (key, masks)
        return masks

    def _prepare_qk(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
        # the hook WindowAttentionBase._attend calls: plain scaled dot product
        return q, k, self.scale

    def _attend_region(self, region: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Fused attention over the windows of ``region`` ``(B, gh*h_sp, gw*w_sp, 3, heads, d)`` -> ``(B, .., .., C)``."""
        b, hh, ww, _, heads, d = region.shape
        gh, gw = hh // self.h_sp, ww // self.w_sp
        win = region.reshape(b, gh, self.h_sp, gw, self.w_sp, 3, heads, d).permute(0, 1, 3, 2, 4, 5, 6, 7)
        win = win.reshape(b * gh * gw, self.tokens, 3, heads, d)
        # the library's one attention kernel call (SDPA on 4-D inputs, CPU-training fallback)
        out = WindowAttentionBase._attend(self, win, mask)  # type: ignore[arg-type]
        out = out.view(b, gh, gw, self.h_sp, self.w_sp, heads * d).permute(0, 1, 3, 2, 4, 5)
        return out.reshape(b, hh, ww, heads * d)

    def forward_fast(self, qkv: torch.Tensor, shifted: bool) -> torch.Tensor:
        """Attend on a padded map ``(B, Hp, Wp, 3, heads, d)`` (this half's q/k/v) -> ``(B, Hp, Wp, C)``.

        With ``shifted`` the map is rolled by half a window first and rolled back after; the
        windows are processed in four groups, one mask each, instead of one mask per window.
        """
        b, hp, wp = qkv.shape[:3]
        masks = self.group_masks(shifted, qkv.device, qkv.dtype)
        if not shifted:
            return self._attend_region(qkv, masks[0])
        sh, sw = self.h_sp // 2, self.w_sp // 2
        rolled = torch.roll(qkv, shifts=(-sh, -sw), dims=(1, 2))
        out = rolled.new_empty(b, hp, wp, qkv.shape[-2] * qkv.shape[-1])
        top, left = hp - self.h_sp, wp - self.w_sp
        regions = (
            (slice(0, top), slice(0, left)),  # interior: bias only
            (slice(0, top), slice(left, wp)),  # right column
            (slice(top, hp), slice(0, left)),  # bottom row
            (slice(top, hp), slice(left, wp)),  # corner
        )
        for mask, (rows, cols) in zip(masks, regions):
            if rows.stop > rows.start and cols.stop > cols.start:  # a one-window-high map has no interior
                out[:, rows, cols] = self._attend_region(rolled[:, rows, cols], mask)
        return torch.roll(out, shifts=(sh, sw), dims=(1, 2))

    def forward_plain(self, qkv: torch.Tensor, height: int, width: int, mask: torch.Tensor | None) -> torch.Tensor:
        """Reference-style: ``qkv`` ``(3, B, Hp*Wp, C)`` (already shifted), explicit softmax -> ``(B, Hp, Wp, C)``."""
        q, k, v = qkv[0], qkv[1], qkv[2]
        b, _, c = q.shape

        def to_windows(t: torch.Tensor) -> torch.Tensor:
            t = rect_window_partition(t.reshape(b, height, width, c), self.h_sp, self.w_sp)
            return t.reshape(-1, self.tokens, self.num_heads, c // self.num_heads).permute(0, 2, 1, 3)

        q, k, v = to_windows(q) * self.scale, to_windows(k), to_windows(v)
        attn = q @ k.transpose(-2, -1) + self.position_bias().unsqueeze(0).to(q.dtype)
        n = attn.shape[-1]
        if mask is not None:
            nw = mask.shape[0]
            attn = (attn.view(-1, nw, self.num_heads, n, n) + mask.to(attn.dtype)[None, :, None]).view(-1, self.num_heads, n, n)
        attn = F.dropout(attn.softmax(dim=-1), self.attn_drop_p, self.training)
        out = (attn @ v).transpose(1, 2).reshape(-1, self.tokens, c)
        return rect_window_reverse(out, self.h_sp, self.w_sp, height, width)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, window=({self.h_sp}, {self.w_sp}), num_heads={self.num_heads}"


# ----------------------------------------------------------------------------- interaction gates


def conv_branch(dim: int) -> nn.Sequential:
    """The depthwise 3x3 conv branch on ``v``: ``Conv -> BatchNorm -> GELU`` (reference ``dwconv``)."""
    return nn.Sequential(nn.Conv2d(dim, dim, 3, 1, 1, groups=dim), nn.BatchNorm2d(dim), nn.GELU())


def channel_interaction(dim: int) -> nn.Sequential:
    """Channel map (before sigmoid) ``(B, C, 1, 1)``: pool -> 1x1 (C/8) -> BN -> GELU -> 1x1 (C)."""
    return nn.Sequential(
        nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, dim // 8, 1), nn.BatchNorm2d(dim // 8), nn.GELU(), nn.Conv2d(dim // 8, dim, 1)
    )


def spatial_interaction(dim: int) -> nn.Sequential:
    """Spatial map (before sigmoid) ``(B, 1, H, W)``: 1x1 (C/16) -> BN -> GELU -> 1x1 (1)."""
    return nn.Sequential(nn.Conv2d(dim, dim // 16, 1), nn.BatchNorm2d(dim // 16), nn.GELU(), nn.Conv2d(dim // 16, 1, 1))


def tokens_to_image(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``(B, H*W, C)`` -> ``(B, C, H, W)``."""
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], height, width)


def image_to_tokens(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, H*W, C)``."""
    return x.flatten(2).transpose(1, 2)


class _AdaptiveInteraction(nn.Module):
    """The conv branch and the two interaction gates shared by both DAT attentions (reference names)."""

    def _build_interaction(self, dim: int) -> None:
        self.dwconv = conv_branch(dim)
        self.channel_interaction = channel_interaction(dim)
        self.spatial_interaction = spatial_interaction(dim)

    def _mix(self, attended: torch.Tensor, conv: torch.Tensor, height: int, width: int, spatial_block: bool) -> torch.Tensor:
        """Adaptive interaction: each branch gates the other, then they are summed (tokens out).

        In the spatial block the channel map comes from the conv branch and gates the
        attention, the spatial map from the attention gates the conv; the channel block swaps
        the sources (the attention is already global over channels there).
        """
        att_img = tokens_to_image(attended, height, width)
        if spatial_block:
            channel_map = self.channel_interaction(conv)
            spatial_map = self.spatial_interaction(att_img)
        else:
            channel_map = self.channel_interaction(att_img)
            spatial_map = self.spatial_interaction(conv)
        if spatial_block:
            attended = attended * torch.sigmoid(channel_map).flatten(1)[:, None, :]
            conv = torch.sigmoid(spatial_map) * conv
        else:
            attended = attended * torch.sigmoid(image_to_tokens(spatial_map))
            conv = conv * torch.sigmoid(channel_map)
        return attended + image_to_tokens(conv)


# ----------------------------------------------------------------------------- the two attentions


class AdaptiveSpatialAttention(_AdaptiveInteraction):
    """DAT's spatial block attention: rectangle windows in both orientations + conv branch + gates.

    Args:
        dim: token channels (split in halves between the two orientations).
        num_heads: heads (``num_heads // 2`` per orientation).
        reso: training ``img_size``; only sizes the reference's saved ``attn_mask_*`` buffers.
        split_size: ``(H_sp, W_sp)``; ``max`` must be a multiple of ``min``.
        shifted: use shifted windows (see :func:`dat_block_shifted`).
        qkv_bias, qk_scale, drop, attn_drop: as in the reference.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        reso: int = 64,
        split_size: Sequence[int] = (8, 8),
        shifted: bool = False,
        qkv_bias: bool = False,
        qk_scale: float | None = None,
        drop: float = 0.0,
        attn_drop: float = 0.0,
    ):
        super().__init__()
        split = (int(split_size[0]), int(split_size[1]))
        if min(split) < 1 or max(split) % min(split):
            raise ValueError(f"split_size {list(split)}: the larger side must be a multiple of the smaller")
        if num_heads < 2 or dim % 2 or (dim // 2) % (num_heads // 2):
            raise ValueError(f"dim {dim} must split into two halves of num_heads//2 = {num_heads // 2} (>= 1) heads")
        self.dim, self.num_heads, self.split_size, self.shifted, self.reso = dim, num_heads, split, shifted, reso
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(drop)
        self.attns = nn.ModuleList(
            RectWindowAttention(dim // 2, i, split, num_heads // 2, attn_drop=attn_drop, qk_scale=qk_scale) for i in range(2)
        )
        self._build_interaction(dim)

    @property
    def pad_multiple(self) -> int:
        """q/k/v are zero-padded (bottom/right) to multiples of this on both axes."""
        return max(self.split_size)

    def reference_buffers(self) -> dict[str, torch.Tensor]:
        """Shifted blocks: the reference's ``attn_mask_0`` / ``attn_mask_1`` at ``reso x reso``."""
        if not self.shifted:
            return {}
        return {
            f"attn_mask_{i}": rect_shift_mask(self.reso, self.reso, a.h_sp, a.w_sp, a.h_sp // 2, a.w_sp // 2)
            for i, a in enumerate(self.attns)
        }

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """``(B, H*W, C)`` tokens of an ``height x width`` map (any size) -> same shape."""
        b, n, c = x.shape
        qkv = self.qkv(x)  # B, L, 3C: [q | k | v]
        conv = self.dwconv(tokens_to_image(qkv[..., 2 * c :], height, width))
        m = self.pad_multiple
        pad_h, pad_w = (-height) % m, (-width) % m
        hp, wp = height + pad_h, width + pad_w
        # zero padding *after* the projection: padded tokens have q = k = v = 0 exactly
        qkv = F.pad(qkv.view(b, height, width, 3 * c), (0, 0, 0, pad_w, 0, pad_h))
        if fast_path_enabled():
            heads = self.num_heads // 2
            halves = qkv.view(b, hp, wp, 3, 2, heads, c // 2 // heads)
            parts = [attn.forward_fast(halves[:, :, :, :, i], self.shifted)[:, :height, :width] for i, attn in enumerate(self.attns)]
        else:
            parts = self._attend_plain(qkv, hp, wp, height, width)
        attended = torch.cat(parts, dim=-1).reshape(b, n, c)
        return self.proj_drop(self.proj(self._mix(attended, conv, height, width, spatial_block=True)))

    def _attend_plain(self, qkv: torch.Tensor, hp: int, wp: int, height: int, width: int) -> list[torch.Tensor]:
        """Reference order: per half, roll the padded q/k/v, build the full mask, attend, roll back, crop."""
        b, c = qkv.shape[0], qkv.shape[-1] // 3
        qkv = qkv.reshape(b, hp, wp, 3, c).permute(3, 0, 1, 2, 4)  # 3, B, Hp, Wp, C
        parts = []
        for i, attn in enumerate(self.attns):
            half = qkv[..., i * c // 2 : (i + 1) * c // 2]
            mask = None
            if self.shifted:
                sh, sw = attn.h_sp // 2, attn.w_sp // 2
                half = torch.roll(half, shifts=(-sh, -sw), dims=(2, 3))
                mask = rect_shift_mask(hp, wp, attn.h_sp, attn.w_sp, sh, sw).to(qkv.device)
            out = attn.forward_plain(half.reshape(3, b, hp * wp, c // 2), hp, wp, mask)
            if self.shifted:
                out = torch.roll(out, shifts=(sh, sw), dims=(1, 2))
            parts.append(out[:, :height, :width])
        return parts


class AdaptiveChannelAttention(_AdaptiveInteraction):
    """DAT's channel block attention (transposed, from XCiT) + conv branch + gates.

    Per head, ``softmax(temperature * q^ k^T)`` is a ``head_dim x head_dim`` map of L2-normalised
    (over all tokens) queries and keys: global over the image, so tiles see their own statistics.

    Args:
        dim: token channels.
        num_heads: heads; ``temperature`` has one entry per head.
        qkv_bias, attn_drop, proj_drop: as in the reference (``qk_scale`` is unused there too).
    """

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = False, attn_drop: float = 0.0, proj_drop: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self._build_interaction(dim)

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """``(B, H*W, C)`` -> same shape."""
        b, n, c = x.shape
        qkv = self.qkv(x).view(b, n, 3, self.num_heads, c // self.num_heads)
        # (B, heads, d, N) views: the matmuls read the token-major layout as transposed operands
        q, k, v = qkv.permute(2, 0, 3, 4, 1).unbind(0)
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        attn = self.attn_drop(((q @ k.transpose(-2, -1)) * self.temperature).softmax(dim=-1))
        attended = (attn @ v).permute(0, 3, 1, 2).reshape(b, n, c)
        conv = self.dwconv(tokens_to_image(qkv[:, :, 2].reshape(b, n, c), height, width))
        return self.proj_drop(self.proj(self._mix(attended, conv, height, width, spatial_block=False)))


# ----------------------------------------------------------------------------- feed-forward and block


class SpatialGate(nn.Module):
    """Split channels in halves; gate the first with a depthwise 3x3 conv of the (normed) second."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        x1, x2 = x.chunk(2, dim=-1)
        return x1 * image_to_tokens(self.conv(tokens_to_image(self.norm(x2), height, width)))


class SGFN(nn.Module):
    """Spatial-gate feed-forward: ``fc1 -> act -> SpatialGate (halves the width) -> fc2`` (reference names)."""

    def __init__(
        self, in_features: int, hidden_features: int | None = None, out_features: int | None = None,
        act_layer: type[nn.Module] = nn.GELU, drop: float = 0.0,
    ):
        super().__init__()
        hidden_features = hidden_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = act_layer()
        self.sg = SpatialGate(hidden_features // 2)
        self.fc2 = nn.Linear(hidden_features // 2, out_features or in_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        x = self.drop(self.act(self.fc1(x)))
        return self.drop(self.fc2(self.drop(self.sg(x, height, width))))


class DATBlock(nn.Module):
    """One DAT block (reference ``DATB``): pre-norm attention then pre-norm SGFN, both residual.

    Even ``b_idx``: :class:`AdaptiveSpatialAttention` (shifted per :func:`dat_block_shifted`);
    odd: :class:`AdaptiveChannelAttention`.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        reso: int = 64,
        split_size: Sequence[int] = (2, 4),
        expansion_factor: float = 4.0,
        qkv_bias: bool = False,
        qk_scale: float | None = None,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        act_layer: type[nn.Module] = nn.GELU,
        norm_layer: type[nn.Module] = nn.LayerNorm,
        rg_idx: int = 0,
        b_idx: int = 0,
    ):
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn: nn.Module
        if b_idx % 2 == 0:
            self.attn = AdaptiveSpatialAttention(
                dim, num_heads, reso=reso, split_size=split_size, shifted=dat_block_shifted(rg_idx, b_idx),
                qkv_bias=qkv_bias, qk_scale=qk_scale, drop=drop, attn_drop=attn_drop,
            )
        else:
            self.attn = AdaptiveChannelAttention(dim, num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.ffn = SGFN(dim, int(dim * expansion_factor), dim, act_layer=act_layer)
        self.norm2 = norm_layer(dim)

    def forward(self, x: torch.Tensor, x_size: tuple[int, int]) -> torch.Tensor:
        """``(B, H*W, C)`` tokens -> same shape."""
        h, w = x_size
        x = x + self.drop_path(self.attn(self.norm1(x), h, w))
        return x + self.drop_path(self.ffn(self.norm2(x), h, w))
