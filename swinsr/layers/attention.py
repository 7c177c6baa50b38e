"""Window multi-head self-attention, V1 (learned bias table) and V2 (scaled cosine + CPB).

Both versions share the projection and the fused ``scaled_dot_product_attention`` call; they
differ only in how queries are scaled and where the per-head position bias comes from. The
shift mask is handed in by the block, already cached per feature-map size.

Parameter names follow the reference implementations exactly (``qkv``, ``proj``,
``relative_position_bias_table``, ``logit_scale``, ``q_bias``, ``v_bias``, ``cpb_mlp``), so
released state dicts load without renaming.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .position import log_spaced_relative_coords, relative_position_index


class WindowAttentionBase(nn.Module):
    """Shared parts: qkv/proj projections, dropout and the attention kernel call."""

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

    def position_bias(self) -> torch.Tensor:
        """The ``(heads, N, N)`` additive position bias for one window."""
        raise NotImplementedError

    def _qkv(self, x: torch.Tensor) -> torch.Tensor:
        return self.qkv(x)

    def _scale_qk(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attend within windows.

        Args:
            x: ``(..., N, C)`` tokens of windows (any leading batch/window dims).
            mask: optional additive mask broadcastable to ``(..., N, N)`` per window; for
                shifted windows the block passes ``(nW, 1, N, N)`` with batch dims ``(B, nW)``.
        """
        *lead, n, c = x.shape
        qkv = self._qkv(x).view(*lead, n, 3, self.num_heads, c // self.num_heads)
        qkv = qkv.movedim(-3, 0).transpose(-2, -3)  # 3, ..., heads, N, d
        q, k, v = qkv.unbind(0)
        q, k = self._scale_qk(q, k)
        bias = self.position_bias().to(q.dtype)
        if mask is not None:
            bias = bias + mask.to(q.dtype)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias, dropout_p=self.attn_drop_p if self.training else 0.0, scale=1.0
        )
        out = out.transpose(-2, -3).reshape(*lead, n, c)
        return self.proj_drop(self.proj(out))

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

    def _scale_qk(self, q, k):
        return q * self.scale, k


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
            return F.linear(x, self.qkv.weight)
        bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        return F.linear(x, self.qkv.weight, bias)

    def position_bias(self) -> torch.Tensor:
        n = self.window_size * self.window_size
        table = self.cpb_mlp(self.relative_coords_table).view(-1, self.num_heads)
        bias = table[self.relative_position_index.view(-1)].view(n, n, -1).permute(2, 0, 1)
        return 16 * torch.sigmoid(bias)

    def _scale_qk(self, q, k):
        scale = torch.clamp(self.logit_scale, max=self._max_logit_scale).exp()
        return F.normalize(q, dim=-1) * scale.to(q.dtype), F.normalize(k, dim=-1)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", pretrained_window_size={self.pretrained_window_size}"
