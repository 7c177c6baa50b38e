"""HAT's additions to the Swin block library: the channel-attention conv branch and overlapping
cross-attention (Chen et al., "Activating More Pixels in Image Super-Resolution Transformer").

* :class:`CAB` — conv, GELU, conv and RCAN channel attention; :class:`HAB` runs it in parallel
  to the (shifted-)window attention of :class:`~swinsr.layers.SwinBlock` on the same normalised
  tokens and adds it scaled by ``conv_scale``. The window attention itself is the library's.
* :class:`OCAB` — queries from ``ws x ws`` windows, keys and values from the overlapping
  ``ows x ows`` windows around them (``ows = ws + int(ws * overlap_ratio)``), cut from the
  *projected* keys/values zero-padded at the image border, with a rectangular relative position
  bias (:func:`overlap_relative_position_index`).
* :class:`RHAG` — a residual group: HABs alternating W-MSA / SW-MSA, one OCAB, a conv, a skip.

Submodule and parameter names are the reference ones (``conv_block.cab``, ``overlap_attn``,
``residual_group.blocks``), so released HAT checkpoints load without renaming.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .block import SwinBlock
from .embed import patch_unembed
from .fastpath import caching_allowed, fast_path_enabled, shared_cached, tensor_versions
from .mlp import Mlp
from .sdpa import padded_sdpa
from .windows import pad_to_multiple, window_gather_indices, window_partition, window_reverse
from .winograd import conv3x3

Size = tuple[int, int]


class ChannelAttention(nn.Module):
    """RCAN channel attention: global average pool, squeeze 1x1 conv, ReLU, expand, sigmoid gate."""

    def __init__(self, num_feat: int, squeeze_factor: int = 16):
        super().__init__()
        squeezed = num_feat // squeeze_factor
        if squeezed < 1:
            raise ValueError(f"squeeze_factor {squeeze_factor} leaves no channels of {num_feat}")
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(num_feat, squeezed, 1, padding=0),
            nn.ReLU(inplace=True),
            nn.Conv2d(squeezed, num_feat, 1, padding=0),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.attention(x)


class CAB(nn.Module):
    """Channel attention block: ``conv3x3 (C -> C/compress) -> GELU -> conv3x3 -> channel attention``."""

    def __init__(self, num_feat: int, compress_ratio: int = 3, squeeze_factor: int = 30):
        super().__init__()
        hidden = num_feat // compress_ratio
        if hidden < 1:
            raise ValueError(f"compress_ratio {compress_ratio} leaves no channels of {num_feat}")
        self.cab = nn.Sequential(
            conv3x3(num_feat, hidden),
            nn.GELU(),
            conv3x3(hidden, num_feat),
            ChannelAttention(num_feat, squeeze_factor),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cab(x)


class HAB(SwinBlock):
    """Hybrid attention block: a V1 :class:`SwinBlock` plus a parallel :class:`CAB` branch.

    ``x + attn(norm1(x)) + conv_scale * CAB(norm1(x))``, then the usual MLP residual. All
    :class:`SwinBlock` arguments apply (``version`` is fixed to 1); HAT keeps the position
    index and shift mask at the model level, so this block writes no reference buffers.

    Args:
        compress_ratio: CAB hidden channels are ``dim // compress_ratio``.
        squeeze_factor: channel-attention bottleneck is ``dim // squeeze_factor``.
        conv_scale: weight of the conv branch in the residual sum.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int = 7,
        shift_size: int = 0,
        compress_ratio: int = 3,
        squeeze_factor: int = 30,
        conv_scale: float = 0.01,
        **block_kwargs: Any,
    ):
        super().__init__(dim, num_heads, window_size, shift_size, version=1, **block_kwargs)
        self.conv_scale = conv_scale
        self.conv_block = CAB(dim, compress_ratio, squeeze_factor)

    def forward(self, x: torch.Tensor, x_size: Size) -> torch.Tensor:
        if torch.is_autocast_enabled(x.device.type):
            x = x.float()  # residual stream in fp32, as in SwinBlock
        b, _, c = x.shape
        y = self._norm(self.norm1, x)
        # the conv branch reads the normalised tokens as a channels-last image (no copy)
        conv = self.conv_block(patch_unembed(y, x_size, channels_last=True))
        conv = conv.permute(0, 2, 3, 1).reshape(b, -1, c)
        # the reference's summation order: shortcut + attention + scaled conv branch
        x = x + self.drop_path(self._window_attention(y, x_size)) + conv * self.conv_scale
        return x + self.drop_path(self.mlp(self._norm(self.norm2, x)))

    def reference_buffers(self) -> dict[str, torch.Tensor]:
        """None: HAT stores ``relative_position_index_SA`` once, on the model."""
        return {}

    def extra_repr(self) -> str:
        return super().extra_repr() + f", conv_scale={self.conv_scale}"


def overlap_window_size(window_size: int, overlap_ratio: float) -> int:
    """Side of OCAB's key/value windows: ``window_size + int(overlap_ratio * window_size)``."""
    return window_size + int(overlap_ratio * window_size)


@functools.lru_cache(maxsize=16)
def _overlap_rpi(window_size: int, overlap_size: int) -> torch.Tensor:
    ws, ows = window_size, overlap_size
    q = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)  # 2, ws*ws
    k = torch.stack(torch.meshgrid(torch.arange(ows), torch.arange(ows), indexing="ij")).flatten(1)  # 2, ows*ows
    rel = (k[:, None, :] - q[:, :, None]).permute(1, 2, 0)  # ws*ws, ows*ows, 2: key minus query
    # The reference offsets by ws - ows + 1 (not ws - 1), so some indices are negative and wrap
    # around the bias table in its indexing; the released weights were trained with exactly this.
    rel = rel + (ws - ows + 1)
    return rel[:, :, 0] * (ws + ows - 1) + rel[:, :, 1]


def overlap_relative_position_index(window_size: int, overlap_size: int) -> torch.Tensor:
    """HAT's ``relative_position_index_OCA``: ``(ws*ws, ows*ows)`` indices into a ``(ws+ows-1)^2`` table.

    Values equal the reference buffer, including its negative entries (they index from the end
    of the table, as Python indexing does).
    """
    return _overlap_rpi(int(window_size), int(overlap_size)).clone()


def _overlap_window_indices_uncached(height: int, width: int, window_size: int, overlap_size: int, device: torch.device) -> torch.Tensor:
    ws, ows = window_size, overlap_size
    padded_width = width + (ows - ws)  # the map is zero-padded by (ows - ws) / 2 on each side
    span = torch.arange(ows, device=device)
    rows = torch.arange(height // ws, device=device)[:, None] * ws + span  # nH, ows (padded coordinates)
    cols = torch.arange(width // ws, device=device)[:, None] * ws + span  # nW, ows
    return (rows[:, None, :, None] * padded_width + cols[None, :, None, :]).reshape(-1)


_overlap_window_indices_cached = functools.lru_cache(maxsize=32)(_overlap_window_indices_uncached)


def overlap_window_indices(height: int, width: int, window_size: int, overlap_size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Flat indices of OCAB's key/value windows in the zero-padded, row-major ``height x width`` map.

    ``padded.reshape(B, -1, C).index_select(1, idx)`` gives the ``ows x ows`` window around each
    ``ws x ws`` query window, windows row by row, like ``nn.Unfold(ows, stride=ws,
    padding=(ows - ws) // 2)``. Cached per arguments; under graph capture the sizes stay symbolic.
    """
    if caching_allowed():
        height, width = int(height), int(width)
    return shared_cached(_overlap_window_indices_cached, height, width, int(window_size), int(overlap_size), torch.device(device))


class OCAB(nn.Module):
    """Overlapping cross-attention block (HAT): window queries attend to enlarged, overlapping windows.

    Keys and values come from ``ows x ows`` windows centred on each ``ws x ws`` query window
    (stride ``ws``), cut from the projected keys/values zero-padded by ``(ows - ws) / 2`` at the
    border. ``x + proj(attn)``, then an MLP residual; no dropout, as in the reference.
    Feature maps that are not window multiples are zero-padded internally and cropped back.
    """

    def __init__(
        self,
        dim: int,
        window_size: int,
        overlap_ratio: float,
        num_heads: int,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        mlp_ratio: float = 2.0,
        norm_layer: type[nn.Module] = nn.LayerNorm,
    ):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        ows = overlap_window_size(window_size, overlap_ratio)
        if (ows - window_size) % 2:
            raise ValueError(
                f"overlap_ratio {overlap_ratio} with window_size {window_size} gives an odd overlap "
                f"({ows - window_size}); the overlapping windows would not line up with the query windows"
            )
        self.dim = dim
        self.window_size = window_size
        self.overlap_win_size = ows
        self.num_heads = num_heads
        self.scale = qk_scale or (dim // num_heads) ** -0.5
        self.norm1 = norm_layer(dim)
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((window_size + ows - 1) ** 2, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU)
        index = overlap_relative_position_index(window_size, ows)
        self.register_buffer("relative_position_index", index, persistent=False)
        # the gather uses the wrapped (non-negative) form: same entries, index_select-friendly
        self.register_buffer("_gather_index", index.remainder(self.relative_position_bias_table.shape[0]).view(-1), persistent=False)
        self._bias_cache: tuple[tuple, torch.Tensor] | None = None

    def position_bias(self) -> torch.Tensor:
        """The ``(heads, ws*ws, ows*ows)`` additive bias (recomputed)."""
        n_q, n_k = self.window_size**2, self.overlap_win_size**2
        bias = self.relative_position_bias_table.index_select(0, self._gather_index)
        return bias.view(n_q, n_k, -1).permute(2, 0, 1)

    def _cached_bias(self, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """:meth:`position_bias` cached in eval until the table changes (fast path only)."""
        table = self.relative_position_bias_table
        key = None
        if not self.training and caching_allowed() and not (torch.is_grad_enabled() and table.requires_grad):
            versions = tensor_versions([table])
            key = None if versions is None else (device, dtype, torch.is_inference_mode_enabled(), versions)  # None: inference tensors
        if key is not None and self._bias_cache is not None and self._bias_cache[0] == key:
            return self._bias_cache[1]
        bias = self.position_bias().to(device=device, dtype=dtype)
        if key is not None:
            self._bias_cache = (key, bias)
        return bias

    def _heads(self, t: torch.Tensor, n: int) -> torch.Tensor:
        """``(..., n, C)`` window tokens -> ``(windows, heads, n, d)``."""
        return t.reshape(-1, n, self.num_heads, self.dim // self.num_heads).transpose(1, 2)

    def _windows_plain(self, qkv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reference-style cut of projected ``(B, H, W, 3C)`` tokens: partition + unfold."""
        c, ws, ows = self.dim, self.window_size, self.overlap_win_size
        q = self._heads(window_partition(qkv[..., :c], ws), ws * ws)
        pad = (ows - ws) // 2
        kv = F.pad(qkv[..., c:], (0, 0, pad, pad, pad, pad))  # zeros around the projected k, v
        kv = kv.unfold(1, ows, ws).unfold(2, ows, ws)  # B, nH, nW, 2C, ows, ows (a view)
        kv = kv.permute(0, 1, 2, 4, 5, 3).reshape(-1, ows * ows, 2 * c)
        return q, self._heads(kv[..., :c], ows * ows), self._heads(kv[..., c:], ows * ows)

    def _windows_fast(self, qkv: torch.Tensor, crop: Size) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One gather each for the query and the key/value windows (cached indices); also the
        inverse gather that puts query windows back in row-major order and crops the padding.
        Gathers also export to ONNX with dynamic H and W, which ``unfold`` does not."""
        b, hp, wp, _ = qkv.shape
        c, ws, ows = self.dim, self.window_size, self.overlap_win_size
        order, inverse = window_gather_indices(hp, wp, ws, 0, qkv.device, crop=crop)
        flat = qkv.reshape(b, -1, 3 * c)
        q = self._heads(flat[..., :c].index_select(1, order), ws * ws)
        pad = (ows - ws) // 2
        kv = F.pad(qkv[..., c:], (0, 0, pad, pad, pad, pad)).reshape(b, -1, 2 * c)
        kv = kv.index_select(1, overlap_window_indices(hp, wp, ws, ows, qkv.device))
        return q, self._heads(kv[..., :c], ows * ows), self._heads(kv[..., c:], ows * ows), inverse

    def forward(self, x: torch.Tensor, x_size: Size) -> torch.Tensor:
        if torch.is_autocast_enabled(x.device.type):
            x = x.float()
        h, w = x_size
        b, _, c = x.shape
        ws = self.window_size
        qkv = self.qkv(pad_to_multiple(SwinBlock._norm(self.norm1, x).view(b, h, w, c), ws))
        hp, wp = qkv.shape[1], qkv.shape[2]
        if fast_path_enabled():
            q, k, v, inverse = self._windows_fast(qkv, (h, w))
            bias = self._cached_bias(q.device, q.dtype)[None]
            if bias.requires_grad and q.device.type == "cpu" and torch.is_grad_enabled():
                # training on CPU: no fused kernel returns the bias gradient (see WindowAttentionBase._attend)
                out = torch.softmax((q * self.scale) @ k.transpose(-2, -1) + bias, dim=-1) @ v
            else:
                # CUDA: head dims such as HAT's 30 are padded so the fused kernels take the bias
                out = padded_sdpa(q, k, v, bias, scale=self.scale)
            out = out.transpose(1, 2).reshape(b, hp * wp, c).index_select(1, inverse)
        else:  # reference-style: explicit logits, bias gathered now, partition / unfold / reverse
            q, k, v = self._windows_plain(qkv)
            attn = (q * self.scale) @ k.transpose(-2, -1) + self.position_bias().to(q.dtype)[None]
            out = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, -1, ws * ws, c)
            out = window_reverse(out, ws, hp, wp)[:, :h, :w].reshape(b, h * w, c)
        x = self.proj(out) + x
        return x + self.mlp(SwinBlock._norm(self.norm2, x))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, window_size={self.window_size}, overlap_win_size={self.overlap_win_size}, num_heads={self.num_heads}"


class HybridAttentionStage(nn.Module):
    """HAT's ``AttenBlocks``: ``depth`` :class:`HAB` s (W-MSA / SW-MSA alternating), then one :class:`OCAB`."""

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        window_size: int,
        compress_ratio: int,
        squeeze_factor: int,
        conv_scale: float,
        overlap_ratio: float,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float | Sequence[float] = 0.0,
        norm_layer: type[nn.Module] = nn.LayerNorm,
        use_checkpoint: bool = False,
        input_resolution: Size | None = None,
    ):
        super().__init__()
        rates = list(drop_path) if isinstance(drop_path, (list, tuple)) else [drop_path] * depth
        self.use_checkpoint = use_checkpoint
        self.blocks = nn.ModuleList(
            HAB(
                dim,
                num_heads,
                window_size,
                shift_size=0 if i % 2 == 0 else window_size // 2,
                compress_ratio=compress_ratio,
                squeeze_factor=squeeze_factor,
                conv_scale=conv_scale,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                qk_scale=qk_scale,
                drop=drop,
                attn_drop=attn_drop,
                drop_path=rates[i],
                norm_layer=norm_layer,
                input_resolution=input_resolution,
            )
            for i in range(depth)
        )
        self.overlap_attn = OCAB(dim, window_size, overlap_ratio, num_heads, qkv_bias, qk_scale, mlp_ratio, norm_layer)

    def forward(self, x: torch.Tensor, x_size: Size) -> torch.Tensor:
        for blk in [*self.blocks, self.overlap_attn]:
            if self.use_checkpoint and self.training and torch.is_grad_enabled():
                x = torch.utils.checkpoint.checkpoint(blk, x, x_size, use_reentrant=False)
            else:
                x = blk(x, x_size)
        return x


class RHAG(nn.Module):
    """Residual hybrid attention group: :class:`HybridAttentionStage`, a conv (``'1conv'``) or none
    (``'identity'``), and a skip connection. Other arguments go to :class:`HybridAttentionStage`."""

    def __init__(self, dim: int, resi_connection: str = "1conv", **stage_kwargs: Any):
        super().__init__()
        if resi_connection not in ("1conv", "identity"):
            raise ValueError(f"HAT resi_connection must be '1conv' or 'identity', got {resi_connection!r}")
        self.residual_group = HybridAttentionStage(dim, **stage_kwargs)
        self.conv = conv3x3(dim, dim) if resi_connection == "1conv" else nn.Identity()

    def forward(self, x: torch.Tensor, x_size: Size) -> torch.Tensor:
        y = self.conv(patch_unembed(self.residual_group(x, x_size), x_size, channels_last=True))
        return y.flatten(2).transpose(1, 2) + x
