"""DAT (Dual Aggregation Transformer, Chen et al. ICCV 2023) on the swinsr contract.

The constructor takes the reference ``DAT`` arguments unchanged (``depth``, ``split_size``,
``expansion_factor``, ...), so a reference option file's ``network_g`` passes as is, and the
parameter names are the reference ones (``before_RG.1``, ``layers.i.blocks.j.attn.attns.k.pos``,
...). The blocks come from :mod:`swinsr.layers.dat`.

Padding: like its reference, DAT does not pad the image. The spatial attention zero-pads its
q/k/v (after the projection) to multiples of ``max(split_size)``; every other layer works at any
size. ``size_multiple`` is therefore ``max(split_size)`` and :meth:`DAT.pad_to_multiple` is the
identity: tiles aligned to that multiple see the same rectangle-window grid as the whole image
(only the last tile of a row/column gets the internal padding, exactly where the whole image
gets it). Tiled results still differ from whole-image ones by more than Swin models do,
because the channel attention and the channel gate's average pooling are global over the
input: each tile normalises over its own tokens.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn

from ...layers.dat import DATBlock, image_to_tokens, tokens_to_image
from ...layers.winograd import conv3x3
from ...errors import OptionError
from ..contract import SRModel
from ..heads import NUM_FEAT, Upsample, UpsampleOneStep, image_mean, residual_conv

UPSAMPLERS = ("pixelshuffle", "pixelshuffledirect")


class ResidualGroup(nn.Module):
    """``depth`` DAT blocks, a closing convolution and a skip (reference ``ResidualGroup``)."""

    def __init__(
        self,
        dim: int,
        reso: int,
        num_heads: int,
        split_size: Sequence[int],
        expansion_factor: float,
        qkv_bias: bool,
        qk_scale: float | None,
        drop: float,
        attn_drop: float,
        drop_paths: Sequence[float],
        act_layer: type[nn.Module],
        norm_layer: type[nn.Module],
        depth: int,
        use_chk: bool,
        resi_connection: str,
        rg_idx: int,
    ):
        super().__init__()
        self.use_chk = use_chk
        self.blocks = nn.ModuleList(
            DATBlock(
                dim, num_heads, reso=reso, split_size=split_size, expansion_factor=expansion_factor, qkv_bias=qkv_bias,
                qk_scale=qk_scale, drop=drop, attn_drop=attn_drop, drop_path=drop_paths[i], act_layer=act_layer,
                norm_layer=norm_layer, rg_idx=rg_idx, b_idx=i,
            )
            for i in range(depth)
        )
        self.conv = residual_conv(dim, resi_connection)

    def forward(self, x: torch.Tensor, x_size: tuple[int, int]) -> torch.Tensor:
        res = x
        for blk in self.blocks:
            if self.use_chk and self.training:
                x = torch.utils.checkpoint.checkpoint(blk, x, x_size, use_reentrant=False)
            else:
                x = blk(x, x_size)
        return res + image_to_tokens(self.conv(tokens_to_image(x, *x_size)))


class _ToTokens(nn.Module):
    """``(B, C, H, W)`` -> ``(B, H*W, C)`` (the reference's ``Rearrange`` at ``before_RG.0``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return image_to_tokens(x)


class DAT(SRModel):
    """Dual Aggregation Transformer for image SR, reference constructor arguments.

    E.g. DAT-light x4: ``DAT(upscale=4, in_chans=3, img_size=64, img_range=1., depth=[18],
    embed_dim=60, num_heads=[6], expansion_factor=2, resi_connection='3conv', split_size=[8, 32],
    upsampler='pixelshuffledirect')``; DAT x4: ``depth=[6]*6, embed_dim=180, num_heads=[6]*6,
    expansion_factor=4, split_size=[8, 32]``.

    Args:
        img_size: training patch size; only sizes the derived shift-mask buffers written for
            the reference code (any input size runs).
        in_chans: image channels (output has as many).
        embed_dim: feature channels.
        split_size: ``(H_sp, W_sp)`` rectangle window; ``max`` must be a multiple of ``min``.
        depth: blocks per residual group.
        num_heads: heads per residual group (split between the two window orientations).
        expansion_factor: SGFN hidden width / ``embed_dim``.
        qkv_bias, qk_scale, drop_rate, attn_drop_rate, drop_path_rate: as in the reference.
        use_chk: gradient checkpointing of each block in training.
        upscale: 2, 3, 4 (``'pixelshuffle'``: 2^n or 3).
        img_range: 1. or 255.
        resi_connection: ``'1conv'`` or ``'3conv'``.
        upsampler: ``'pixelshuffle'`` or ``'pixelshuffledirect'``.
    """

    family = "dat"
    DERIVED_BUFFERS = ("rpe_biases", "relative_position_index", "attn_mask_0", "attn_mask_1")

    def __init__(
        self,
        img_size: int = 64,
        in_chans: int = 3,
        embed_dim: int = 180,
        split_size: Sequence[int] = (2, 4),
        depth: Sequence[int] = (2, 2, 2, 2),
        num_heads: Sequence[int] = (2, 2, 2, 2),
        expansion_factor: float = 4.0,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        act_layer: type[nn.Module] = nn.GELU,
        norm_layer: type[nn.Module] = nn.LayerNorm,
        use_chk: bool = False,
        upscale: int = 2,
        img_range: float = 1.0,
        resi_connection: str = "1conv",
        upsampler: str = "pixelshuffle",
        **unused: Any,
    ):
        super().__init__()
        if upsampler not in UPSAMPLERS:
            raise ValueError(f"DAT: upsampler must be one of {UPSAMPLERS}, got {upsampler!r}")
        if len(depth) != len(num_heads):
            raise ValueError(f"DAT: depth {list(depth)} and num_heads {list(num_heads)} differ in length")
        if len(split_size) != 2:
            raise ValueError(f"DAT: split_size must be [H_sp, W_sp], got {split_size!r}")
        self.scale = int(upscale)
        self.in_chans = self.out_chans = in_chans
        self.split_size = (int(split_size[0]), int(split_size[1]))
        self.size_multiple = max(self.split_size)
        self.img_size = int(img_size)
        self.embed_dim = embed_dim
        self.img_range = img_range
        self.upsampler = upsampler
        # not a state-dict entry in the reference (a plain attribute there)
        self.register_buffer("mean", image_mean(in_chans), persistent=False)

        # 1. shallow features
        self.conv_first = nn.Conv2d(in_chans, embed_dim, 3, 1, 1)
        # 2. deep features
        self.before_RG = nn.Sequential(_ToTokens(), nn.LayerNorm(embed_dim))
        dpr = torch.linspace(0, drop_path_rate, sum(depth), device="cpu").tolist()  # CPU: also under a meta-device build
        self.layers = nn.ModuleList(
            ResidualGroup(
                embed_dim, self.img_size, num_heads[i], self.split_size, expansion_factor, qkv_bias, qk_scale, drop_rate,
                attn_drop_rate, dpr[sum(depth[:i]) : sum(depth[: i + 1])], act_layer, norm_layer, depth[i], use_chk,
                resi_connection, i,
            )
            for i in range(len(depth))
        )
        shifted = any(getattr(blk.attn, "shifted", False) for layer in self.layers for blk in layer.blocks)
        if shifted and (self.img_size % self.split_size[0] or self.img_size % self.split_size[1]):
            # the reference builds its stored shift masks at img_size x img_size and fails the same way
            raise ValueError(f"DAT: img_size {self.img_size} must be a multiple of both split_size sides {list(self.split_size)}")
        self.norm = norm_layer(embed_dim)
        self.conv_after_body = residual_conv(embed_dim, resi_connection)
        # 3. reconstruction
        if upsampler == "pixelshuffle":
            self.conv_before_upsample = nn.Sequential(conv3x3(embed_dim, NUM_FEAT), nn.LeakyReLU(inplace=True))
            self.upsample = Upsample(self.scale, NUM_FEAT)
            self.conv_last = nn.Conv2d(NUM_FEAT, in_chans, 3, 1, 1)
        else:
            self.upsample = UpsampleOneStep(self.scale, embed_dim, in_chans)
        self.apply(_init_weights)

    def pad_to_multiple(self, x: torch.Tensor) -> torch.Tensor:
        """Identity: DAT pads inside its attention (zeros on q/k/v), never the image (see module doc)."""
        return x

    def estimate_bytes_per_pixel(self) -> float:
        """Peak float32 bytes per input pixel, with a 25% margin.

        Assumes: the block's live tokens (input, normed copy, 3C q/k/v, padded q/k/v, two
        C-wide attention/conv branches, the ``expansion_factor * C`` SGFN hidden and its half)
        plus one orientation's attention logits (``heads/2 * H_sp*W_sp`` per pixel) in case the
        fused kernel falls back to the math path; plus the head (``NUM_FEAT * scale^2`` twice
        for ``'pixelshuffle'``).
        """
        c = self.embed_dim
        first = self.layers[0].blocks[0]
        hidden = first.ffn.fc1.out_features
        heads = first.attn.num_heads
        logits = (heads // 2) * self.split_size[0] * self.split_size[1]
        head = 2 * NUM_FEAT * self.scale**2 if self.upsampler == "pixelshuffle" else 2 * self.out_chans * self.scale**2
        return 4.0 * (10 * c + 1.5 * hidden + logits + head) * 1.25

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        x = self.before_RG(x)
        for layer in self.layers:
            x = layer(x, (h, w))
        return tokens_to_image(self.norm(x), h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Super-resolve ``(B, C, H, W)`` in ``[0, 1]`` (any H, W) -> ``(B, C, H*s, W*s)``."""
        if self.training and x.shape[0] < 2:
            # torch's own message ("Expected more than 1 value per channel") does not say why
            raise OptionError(
                "DAT trains with BatchNorm on pooled 1x1 features (its channel gates), which needs batches of"
                " >= 2 images: raise datasets.train.batch_size_per_gpu"
            )
        mean = self.mean.type_as(x)
        x = (x - mean) * self.img_range
        x = self.conv_first(x)
        x = self.conv_after_body(self.forward_features(x)) + x
        if self.upsampler == "pixelshuffle":
            x = self.conv_last(self.upsample(self.conv_before_upsample(x)))
        else:
            x = self.upsample(x)
        return x / self.img_range + mean


def _init_weights(m: nn.Module) -> None:
    """The reference initialisation: truncated-normal linears, zero biases, unit norms (incl. BatchNorm)."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)):
        nn.init.zeros_(m.bias)
        nn.init.ones_(m.weight)
