"""Window multi-head self-attention, V1 (learned bias table) and V2 (scaled cosine + CPB).

Both versions share the projection and the fused ``scaled_dot_product_attention`` call; they
differ only in how queries are scaled and where the per-head position bias comes from. The
block hands over a grid of windows (:meth:`WindowAttentionBase.forward_grid`); the position
bias and the four distinct shift masks are folded together once and cached in eval. A
reference-style plain path (see :mod:`swinsr.layers.fastpath`) is kept for comparison.

Parameter names follow the reference implementations exactly (``qkv``, ``proj``,
``relative_position_bias_table``, ``logit_scale``, ``q_bias``, ``v_bias``, ``cpb_mlp``), so
released state dicts load without renaming.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import cpu_attention
from .fastpath import caching_allowed, fast_path_enabled, tensor_versions
from .linear import fast_linear, linear_module
from .position import log_spaced_relative_coords, relative_position_index
from .sdpa import padded_sdpa
from .windows import border_mask_patterns


class WindowAttentionBase(nn.Module):
    """Shared parts: qkv/proj projections, dropout, the attention kernels and the bias cache."""

    version: int = 0

    def __init__(self, dim: int, window_size: int, num_heads: int, attn_drop: float, proj_drop: float):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.dim = dim
        self.window_size = window_size
        self.num_heads = num_heads
        self.attn_drop_p = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        # Derived, never trained: recomputed from the window size, so checkpoints saved for any
        # training size load (see swinsr.checkpoint for the reference-layout copies).
        self.register_buffer("relative_position_index", relative_position_index(window_size), persistent=False)
        # (key, tensor) of the last bias (+ border masks) computed in eval; see _cached_masks
        self._mask_cache: tuple[tuple, torch.Tensor] | None = None

    def position_bias(self) -> torch.Tensor:
        """The ``(heads, N, N)`` additive position bias for one window (always recomputed)."""
        raise NotImplementedError

    def _bias_sources(self) -> list[torch.Tensor]:
        """The tensors :meth:`position_bias` is computed from (the cache watches them)."""
        raise NotImplementedError

    def _qkv(self, x: torch.Tensor) -> torch.Tensor:
        return linear_module(self.qkv, x)

    def _prepare_qk(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Queries and keys ready for ``softmax(scale * q @ k^T + bias)``, and that ``scale``."""
        raise NotImplementedError

    def _cache_key(self, shift_size: int, device: torch.device, dtype: torch.dtype) -> tuple | None:
        """Identity of everything the cached masks depend on, or ``None`` when caching is off.

        Weights are tracked by storage and in-place version counter, so an optimizer step,
        ``load_state_dict`` or ``.to()`` invalidates the cache. Training, and autograd through
        the bias parameters, always recompute (the bias needs its gradient).
        """
        if self.training or not caching_allowed():
            return None
        sources = self._bias_sources()
        if torch.is_grad_enabled() and any(t.requires_grad for t in sources):
            return None
        versions = tensor_versions(sources)
        if versions is None:  # inference tensors have no version counter
            return None
        return (shift_size, device, dtype, torch.is_inference_mode_enabled(), versions)

    def _cached_masks(self, shift_size: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """Additive masks for the window groups: ``(1, heads, N, N)`` or ``(4, heads, N, N)``.

        Row 0 is the position bias alone (unshifted blocks, interior windows); with a shift,
        rows 1-3 add the right-column, bottom-row and corner masks of
        :func:`~swinsr.layers.windows.border_mask_patterns`. In eval the result is computed once
        and reused by every forward until the weights change; for V2 that also means the
        continuous-position-bias MLP runs once, not once per forward.
        """
        key = self._cache_key(shift_size, device, dtype)
        if key is not None and self._mask_cache is not None and self._mask_cache[0] == key:
            return self._mask_cache[1]
        bias = self.position_bias().to(device=device, dtype=dtype)
        if shift_size:
            patterns = border_mask_patterns(self.window_size, shift_size, device, dtype)
            masks = torch.cat([bias[None], bias[None] + patterns[:, None]])
        else:
            masks = bias[None]
        if key is not None:
            self._mask_cache = (key, masks)
        return masks

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attend within windows.

        Args:
            x: ``(..., N, C)`` tokens of windows (any leading batch/window dims).
            mask: optional additive mask broadcastable to ``(..., N, N)`` per window; for
                shifted windows the block passes ``(nW, 1, N, N)`` with batch dims ``(B, nW)``.
        """
        if not fast_path_enabled():
            return self._forward_plain(x, mask)
        *lead, n, c = x.shape
        qkv = self._qkv(x).view(-1, n, 3, self.num_heads, c // self.num_heads)
        bias = self._cached_masks(0, x.device, qkv.dtype)[0]
        if mask is not None:
            bias = bias + mask.to(qkv.dtype)
        bias = bias.expand(*lead, self.num_heads, n, n).reshape(-1, self.num_heads, n, n)
        out = self._attend(qkv, bias)
        return self.proj_drop(linear_module(self.proj, out.view(*lead, n, c)))

    def _attend(self, qkv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Fused attention on ``(windows, N, 3, heads, d)`` projections -> ``(windows, N, C)``.

        Inputs are kept 4-D (windows, heads, N, d) with a 4-D mask: that is the layout the fused
        CPU/CUDA kernels accept; other ranks silently fall back to a much slower math path.
        """
        if mask.dim() == 3:
            mask = mask[None]
        dropout_p = self.attn_drop_p if self.training else 0.0
        if mask.shape[0] == 1 and cpu_attention.usable(qkv[None], mask, dropout_p):
            return WindowAttentionBase._attend_kernel(self, qkv[None], mask, [(0, qkv.shape[0], 0)])[0]  # type: ignore[arg-type]
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        q, k, scale = self._prepare_qk(q, k)
        if mask.requires_grad and q.device.type == "cpu" and torch.is_grad_enabled():
            # No fused CPU kernel returns the mask's (= position bias's) gradient, so SDPA would
            # take its math fallback, whose fully-masked-row guards made the op 5-15% slower.
            attn = F.dropout(torch.softmax((q * scale) @ k.transpose(-2, -1) + mask, dim=-1), dropout_p, self.training)
            out = attn @ v
        else:
            # the kernel applies the scale itself: one pass over q saved; on CUDA the head dim is
            # zero-padded to the fused kernel's multiple (SwinIR-S: 10 -> 16 in bf16), see .sdpa
            out = padded_sdpa(q, k, v, mask, dropout_p=dropout_p, scale=scale)
        return out.transpose(1, 2).reshape(qkv.shape[0], qkv.shape[1], -1)

    def _attend_kernel(self, qkv: torch.Tensor, masks: torch.Tensor, groups: list[tuple[int, int, int]]) -> torch.Tensor:
        """swinsr's CPU kernel on ``(B, W, N, 3, heads, d)`` projections -> ``(B, W, N, C)``.

        About 2-4x SDPA's CPU kernel at 64-token windows (see :mod:`.cpu_attention`); the output
        is token-major and gradients come back packed, so no layout copies surround it.
        """
        q, k, _ = cpu_attention.qkv_views(qkv)
        q2, k2, scale = self._prepare_qk(q, k)
        return cpu_attention.attend(qkv, masks, groups, scale, None if q2 is q else q2, None if k2 is k else k2)

    def forward_grid(self, x: torch.Tensor, group_sizes: list[int], shift_size: int = 0) -> torch.Tensor:
        """Fast-path attention on windows ``(B, nW, N, C)`` stored group by group -> same shape.

        ``group_sizes`` (from :func:`~swinsr.layers.windows.window_group_sizes`) is ``[nW]`` for
        unshifted windows, or the interior / right-column / bottom-row / corner counts for
        shifted windows gathered in that order (``window_gather_indices(grouped=True)``). Each
        group shares one bias + mask, so no per-window mask is built, and each group is a
        contiguous slice, so the projections are not copied per group.
        """
        b, _, n, c = x.shape
        qkv = self._qkv(x)
        # the projection's dtype, not the input's: under autocast the kernel wants them equal
        masks = self._cached_masks(shift_size, x.device, qkv.dtype)
        grid = qkv.view(b, -1, n, 3, self.num_heads, c // self.num_heads)
        if cpu_attention.usable(grid, masks, self.attn_drop_p if self.training else 0.0):
            starts = [sum(group_sizes[:g]) for g in range(len(group_sizes))]
            groups = [(start, count, g) for g, (start, count) in enumerate(zip(starts, group_sizes)) if count]
            return self.proj_drop(linear_module(self.proj, self._attend_kernel(grid, masks, groups)))
        parts, start = [], 0
        for mask, count in zip(masks, group_sizes):
            if count == 0:  # a one-window-high/wide map has no interior
                continue
            part = qkv[:, start : start + count].reshape(-1, n, 3, self.num_heads, c // self.num_heads)
            parts.append(self._attend(part, mask).view(b, count, n, c))
            start += count
        out = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        return self.proj_drop(linear_module(self.proj, out))

    def forward_group(self, x: torch.Tensor, group: int, shift_size: int = 0) -> torch.Tensor:
        """Fast-path attention on windows ``(B, k, N, C)`` that all lie in one group of :meth:`forward_grid`.

        ``group`` indexes :func:`~swinsr.layers.windows.window_group_sizes` (0 = interior, or the
        only group when unshifted). Memory-lean inference calls this chunk by chunk.
        """
        b, k, n, c = x.shape
        qkv = self._qkv(x)
        mask = self._cached_masks(shift_size, x.device, qkv.dtype)[group]
        out = self._attend(qkv.reshape(-1, n, 3, self.num_heads, c // self.num_heads), mask)
        return self.proj_drop(linear_module(self.proj, out.view(b, k, n, c)))

    def _forward_plain(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Reference-style attention: explicit logits, bias gathered now, softmax, no caches."""
        *lead, n, c = x.shape
        heads = self.num_heads
        qkv = self._qkv(x.reshape(-1, n, c)).reshape(-1, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        q, k, scale = self._prepare_qk(q, k)
        attn = (q * scale) @ k.transpose(-2, -1) + self.position_bias().to(x.dtype).unsqueeze(0)
        if mask is not None:
            attn = (attn.view(*lead, heads, n, n) + mask.to(x.dtype)).view(-1, heads, n, n)
        attn = F.dropout(attn.softmax(dim=-1), self.attn_drop_p, self.training)
        out = (attn @ v).transpose(1, 2).reshape(*lead, n, c)
        return self.proj_drop(linear_module(self.proj, out))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, window_size={self.window_size}, num_heads={self.num_heads}"


class WindowAttention(WindowAttentionBase):
    """Swin V1 / SwinIR window attention with a learned relative position bias table.

    Args:
        dim: token channels.
        window_size: side of the square window.
        num_heads: attention heads.
        qkv_bias: learn a bias for q, k and v.
        qk_scale: override the default ``head_dim ** -0.5`` query scale (reference argument).
        attn_drop, proj_drop: dropout rates.
    """

    version = 1

    def __init__(
        self,
        dim: int,
        window_size: int,
        num_heads: int,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ):
        super().__init__(dim, window_size, num_heads, attn_drop, proj_drop)
        self.scale = qk_scale or (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)

    def position_bias(self) -> torch.Tensor:
        n = self.window_size * self.window_size
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        return bias.view(n, n, -1).permute(2, 0, 1)

    def _bias_sources(self) -> list[torch.Tensor]:
        return [self.relative_position_bias_table, self.relative_position_index]

    def _prepare_qk(self, q, k):
        return q, k, self.scale


class WindowAttentionV2(WindowAttentionBase):
    """Swin V2 / Swin2SR window attention: scaled cosine attention + continuous position bias.

    The per-head temperature ``logit_scale`` is learned in log space and clamped at
    ``log(100)``; the position bias is a 2-layer MLP (``cpb_mlp``) over log-spaced relative
    coordinates, squashed to ``16 * sigmoid``. ``q`` and ``v`` get learned biases, ``k`` none.

    Args:
        dim, window_size, num_heads: as for :class:`WindowAttention`.
        qkv_bias: learn ``q_bias`` / ``v_bias``.
        pretrained_window_size: window size the model was pre-trained with (0 = this one);
            keeps the coordinate normalisation of the pre-training when windows grow.
    """

    version = 2
    # float32-rounded log(100), exactly the reference clamp value (it matters in float64 runs)
    _max_logit_scale = float(torch.log(torch.tensor(1.0 / 0.01)))

    def __init__(
        self,
        dim: int,
        window_size: int,
        num_heads: int,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        pretrained_window_size: int = 0,
    ):
        super().__init__(dim, window_size, num_heads, attn_drop, proj_drop)
        self.pretrained_window_size = pretrained_window_size
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones((num_heads, 1, 1))))
        self.cpb_mlp = nn.Sequential(nn.Linear(2, 512, bias=True), nn.ReLU(inplace=True), nn.Linear(512, num_heads, bias=False))
        self.register_buffer(
            "relative_coords_table",
            log_spaced_relative_coords(window_size, pretrained_window_size),
            persistent=False,
        )
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        if qkv_bias:
            self.q_bias = nn.Parameter(torch.zeros(dim))
            self.v_bias = nn.Parameter(torch.zeros(dim))
        else:
            self.q_bias = None
            self.v_bias = None

    def _qkv(self, x):
        if self.q_bias is None:
            return fast_linear(x, self.qkv.weight, None, self.qkv, "weight")
        bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        return fast_linear(x, self.qkv.weight, bias, self.qkv, "weight")

    def position_bias(self) -> torch.Tensor:
        n = self.window_size * self.window_size
        table = self.cpb_mlp(self.relative_coords_table).view(-1, self.num_heads)
        bias = table[self.relative_position_index.view(-1)].view(n, n, -1).permute(2, 0, 1)
        return 16 * torch.sigmoid(bias)

    def _bias_sources(self) -> list[torch.Tensor]:
        return [*self.cpb_mlp.parameters(), self.relative_coords_table, self.relative_position_index]

    def _prepare_qk(self, q, k):
        # per-head temperature: folded into q, so the kernel's own scale is 1
        scale = torch.clamp(self.logit_scale, max=self._max_logit_scale).exp()
        return F.normalize(q, dim=-1) * scale.to(q.dtype), F.normalize(k, dim=-1), 1.0

    def extra_repr(self) -> str:
        return super().extra_repr() + f", pretrained_window_size={self.pretrained_window_size}"
