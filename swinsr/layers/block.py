"""The Swin Transformer block and a stage of blocks, shared by every model in swinsr.

``version=1`` is the original pre-norm block (Swin V1, SwinIR); ``version=2`` is the
residual-post-norm block with scaled cosine attention (Swin V2, Swin2SR).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .attention import WindowAttention, WindowAttentionV2
from .mlp import DropPath, Mlp
from .token_norm import add_gather_layer_norm, gather_layer_norm, gather_layer_norm_add, token_norm_applies
from .fastpath import caching_allowed, fast_path_enabled, lean_settings
from .windows import (
    compute_shifted_window_mask,
    cyclic_shift,
    pad_to_multiple,
    shifted_window_mask,
    window_gather_indices,
    window_group_sizes,
    window_partition,
    window_reverse,
)

Size = tuple[int, int]


class SwinBlock(nn.Module):
    """(Shifted-)window attention + MLP, on tokens ``(B, H*W, C)`` of an ``H x W`` map.

    Args:
        dim: token channels.
        num_heads: attention heads.
        window_size: window side.
        shift_size: cyclic shift (0 for W-MSA, usually ``window_size // 2`` for SW-MSA).
        mlp_ratio: hidden width of the MLP relative to ``dim``.
        qkv_bias, qk_scale: attention projection options (``qk_scale`` is V1 only).
        drop, attn_drop, drop_path: dropout and stochastic-depth rates.
        act_layer, norm_layer: activation and normalisation classes.
        version: 1 (pre-norm, learned bias table) or 2 (post-norm, cosine attention + CPB).
        pretrained_window_size: V2 only, see :class:`WindowAttentionV2`.
        input_resolution: the training feature-map size. As in the reference, a map no larger
            than the window turns the window into the whole map and disables the shift; it
            also sizes the ``attn_mask`` written into reference-layout checkpoints. Any other
            size works at run time (masks are computed per size and cached; maps that are not
            window multiples are zero-padded internally).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int = 7,
        shift_size: int = 0,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        act_layer: type[nn.Module] = nn.GELU,
        norm_layer: type[nn.Module] = nn.LayerNorm,
        version: int = 1,
        pretrained_window_size: int = 0,
        input_resolution: Size | None = None,
    ):
        super().__init__()
        if version not in (1, 2):
            raise ValueError(f"version must be 1 or 2, got {version!r}")
        if input_resolution is not None and min(input_resolution) <= window_size:
            shift_size = 0
            window_size = min(input_resolution)
        if not 0 <= shift_size < window_size:
            raise ValueError(f"shift_size must be in [0, window_size), got {shift_size} for window {window_size}")
        self.dim = dim
        self.num_heads = num_heads
        self.window_size = window_size
        self.shift_size = shift_size
        self.mlp_ratio = mlp_ratio
        self.version = version
        self.input_resolution = tuple(input_resolution) if input_resolution is not None else None

        self.norm1 = norm_layer(dim)
        if version == 1:
            self.attn: nn.Module = WindowAttention(dim, window_size, num_heads, qkv_bias, qk_scale, attn_drop, drop)
        else:
            self.attn = WindowAttentionV2(dim, window_size, num_heads, qkv_bias, attn_drop, drop, pretrained_window_size)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=act_layer, drop=drop)

    def _window_attention(self, x: torch.Tensor, x_size: Size) -> torch.Tensor:
        h, w = x_size
        b, _, c = x.shape
        ws, shift = self.window_size, self.shift_size
        x = pad_to_multiple(x.view(b, h, w, c), ws)
        hp, wp = x.shape[1], x.shape[2]
        if fast_path_enabled():
            # one gather does pad-free shift + partition, one gather does reverse + unshift + crop
            order, inverse = window_gather_indices(hp, wp, ws, shift, x.device, crop=(h, w), grouped=True)
            windows = x.reshape(b, hp * wp, c).index_select(1, order).view(b, -1, ws * ws, c)
            windows = self.attn.forward_grid(windows, window_group_sizes(hp, wp, ws, shift), shift)
            return windows.view(b, hp * wp, c).index_select(1, inverse)
        # plain path, as the reference: a (nW, N, N) mask rebuilt in every shifted block
        windows = window_partition(cyclic_shift(x, shift), ws)  # B, nW, N, C
        mask = None
        if shift:
            mask = compute_shifted_window_mask(hp, wp, ws, shift, x.device, x.dtype)[:, None]  # nW, 1, N, N
        windows = self.attn(windows, mask)
        x = cyclic_shift(window_reverse(windows, ws, hp, wp), -shift)
        if hp != h or wp != w:
            x = x[:, :h, :w]
        return x.reshape(b, h * w, c)

    def _runs_lean(self, x: torch.Tensor, x_size: Size) -> bool:
        """Whether this forward takes the memory-lean chunked path (see :func:`~swinsr.layers.fastpath.lean_inference`)."""
        min_tokens, _ = lean_settings()
        h, w = x_size
        return (
            h * w >= min_tokens
            and not torch.is_grad_enabled()
            and fast_path_enabled()
            and caching_allowed()  # graph capture sees the one-call computation
            and h % self.window_size == 0
            and w % self.window_size == 0  # padded maps pad the *normed* tokens: the one-call path
        )

    def _forward_lean(self, x: torch.Tensor, x_size: Size, in_place: bool = False) -> torch.Tensor:
        """The block's forward without gradients, window chunk by window chunk, then token chunk by token chunk.

        Each token belongs to exactly one window, so a chunk's attention output can be added into
        the output in place (``index_add_`` at the chunk's token positions) without changing what
        any other chunk reads; the norms are per token, so norm(gather(x)) == gather(norm(x)).
        Same operations as :meth:`forward`, so the same values up to GEMM blocking.
        ``in_place=True`` updates ``x`` itself (for a caller that holds no other reference to it).
        """
        h, w = x_size
        b, _, c = x.shape
        ws, shift, n = self.window_size, self.shift_size, self.window_size**2
        _, chunk_tokens = lean_settings()
        order, _ = window_gather_indices(h, w, ws, shift, x.device, crop=(h, w), grouped=True)
        # not written into the input unless allowed: the caller may still hold it (group residuals)
        out = x if in_place else x.clone()
        fused = self._fuses_norms(x, x_size)
        step = max(1, chunk_tokens // n)
        start = 0
        for group, count in enumerate(window_group_sizes(h, w, ws, shift)):
            for w0 in range(start, start + count, step):
                w1 = min(w0 + step, start + count)
                index = order[w0 * n : w1 * n]
                if self.version == 1 and fused:
                    tokens = gather_layer_norm(x, index, self.norm1)
                else:
                    tokens = x.index_select(1, index)
                    if self.version == 1:
                        tokens = self._norm(self.norm1, tokens)
                y = self.attn.forward_group(tokens.view(b, w1 - w0, n, c), group, shift).view(b, -1, c)
                if self.version == 2:
                    y = self._norm(self.norm1, y)
                out.index_add_(1, index, y.to(out.dtype))
            start += count
        for t0 in range(0, h * w, chunk_tokens):
            part = out[:, t0 : t0 + chunk_tokens]
            if fused and part.is_contiguous():
                if self.version == 1:
                    part += self.mlp(gather_layer_norm(part, None, self.norm2))
                else:
                    gather_layer_norm_add(part, self.mlp(part), None, self.norm2, out=part)
            elif self.version == 1:
                part += self.mlp(self._norm(self.norm2, part)).to(out.dtype)
            else:
                part += self._norm(self.norm2, self.mlp(part)).to(out.dtype)
        return out

    def _fuses_norms(self, x: torch.Tensor, x_size: Size) -> bool:
        """Whether this inference forward takes :meth:`_forward_fused` (the norms inside the gathers)."""
        h, w = x_size
        return (
            not self.training  # dropout and stochastic depth are not in the fused form
            and h % self.window_size == 0
            and w % self.window_size == 0  # padded maps pad the *normed* tokens with zeros
            and token_norm_applies(x, self.norm1, self.norm2)
        )

    def _forward_fused(self, x: torch.Tensor, x_size: Size) -> torch.Tensor:
        """:meth:`forward` in inference with the LayerNorms fused into the window gathers (:mod:`.token_norm`).

        Pre-norm (version 1): ``norm1`` + gather into window order in one pass, then gather back +
        residual add + ``norm2`` in one pass. Post-norm (version 2): gather back + ``norm1`` +
        residual add, then ``norm2`` + add. Same operations as :meth:`forward` otherwise.
        """
        h, w = x_size
        b, _, c = x.shape
        ws, shift = self.window_size, self.shift_size
        order, inverse = window_gather_indices(h, w, ws, shift, x.device, crop=(h, w), grouped=True)
        groups = window_group_sizes(h, w, ws, shift)
        if self.version == 1:
            windows = gather_layer_norm(x, order, self.norm1).view(b, -1, ws * ws, c)
            y = self.attn.forward_grid(windows, groups, shift).view(b, h * w, c)
            x, normed = add_gather_layer_norm(x, y, inverse, self.norm2)
            return x.add_(self.mlp(normed))  # x is the kernel's fresh sum
        windows = x.index_select(1, order).view(b, -1, ws * ws, c)
        y = self.attn.forward_grid(windows, groups, shift).view(b, h * w, c)
        x = gather_layer_norm_add(x, y, inverse, self.norm1)
        return gather_layer_norm_add(x, self.mlp(x), None, self.norm2, out=x)

    def forward(self, x: torch.Tensor, x_size: Size) -> torch.Tensor:
        if self._fuses_norms(x, x_size) and not self._runs_lean(x, x_size):
            return self._forward_fused(x, x_size)
        if self._runs_lean(x, x_size):
            return self._forward_lean(x.float() if torch.is_autocast_enabled(x.device.type) else x, x_size)
        if torch.is_autocast_enabled(x.device.type):
            # half precision only inside the projections and attention: the residual stream and
            # the normalisations stay fp32, so long residual sums cannot overflow in fp16
            x = x.float()
        if self.version == 1:
            x = x + self.drop_path(self._window_attention(self._norm(self.norm1, x), x_size))
            return x + self.drop_path(self.mlp(self._norm(self.norm2, x)))
        x = x + self.drop_path(self._norm(self.norm1, self._window_attention(x, x_size)))
        return x + self.drop_path(self._norm(self.norm2, self.mlp(x)))

    @staticmethod
    def _norm(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """``norm(x)``, in fp32 when autocast is on (no-op cost otherwise)."""
        if not torch.is_autocast_enabled(x.device.type):
            return norm(x)
        with torch.autocast(x.device.type, enabled=False):
            return norm(x.float())

    def reference_buffers(self) -> dict[str, torch.Tensor]:
        """The derived buffers the reference implementation stores in its state dict."""
        out = {"attn.relative_position_index": self.attn.relative_position_index.clone()}
        if self.version == 2:
            out["attn.relative_coords_table"] = self.attn.relative_coords_table.clone()
        if self.shift_size and self.input_resolution is not None:
            h, w = (-(-s // self.window_size) * self.window_size for s in self.input_resolution)
            out["attn_mask"] = shifted_window_mask(h, w, self.window_size, self.shift_size).clone()
        return out

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, num_heads={self.num_heads}, window_size={self.window_size}, "
            f"shift_size={self.shift_size}, mlp_ratio={self.mlp_ratio}, version={self.version}"
        )


class SwinStage(nn.Module):
    """``depth`` blocks alternating W-MSA and SW-MSA, then an optional downsampling layer.

    This is the reference ``BasicLayer``: same submodule names (``blocks``, ``downsample``).
    ``forward`` returns the tokens and the (possibly halved) map size.
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        window_size: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float | list[float] = 0.0,
        norm_layer: type[nn.Module] = nn.LayerNorm,
        downsample: nn.Module | None = None,
        use_checkpoint: bool = False,
        version: int = 1,
        pretrained_window_size: int = 0,
        input_resolution: Size | None = None,
    ):
        super().__init__()
        self.dim = dim
        self.depth = depth
        self.use_checkpoint = use_checkpoint
        rates = drop_path if isinstance(drop_path, (list, tuple)) else [drop_path] * depth
        self.blocks = nn.ModuleList(
            SwinBlock(
                dim,
                num_heads,
                window_size,
                shift_size=0 if i % 2 == 0 else window_size // 2,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                qk_scale=qk_scale,
                drop=drop,
                attn_drop=attn_drop,
                drop_path=rates[i],
                norm_layer=norm_layer,
                version=version,
                pretrained_window_size=pretrained_window_size,
                input_resolution=input_resolution,
            )
            for i in range(depth)
        )
        self.downsample = downsample

    def forward(self, x: torch.Tensor, x_size: Size) -> tuple[torch.Tensor, Size]:
        for i, blk in enumerate(self.blocks):
            if self.use_checkpoint and self.training and torch.is_grad_enabled():
                x = torch.utils.checkpoint.checkpoint(blk, x, x_size, use_reentrant=False)
            elif i > 0 and type(blk).forward is SwinBlock.forward and blk._runs_lean(x, x_size):
                # x is the previous block's own output, held nowhere else: one feature map saved
                x = blk._forward_lean(x, x_size, in_place=True)
            else:
                x = blk(x, x_size)
        if self.downsample is not None:
            x, x_size = self.downsample(x, x_size)
        return x, x_size
