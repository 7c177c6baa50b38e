"""SwinIR and Swin2SR: image restoration networks built from the Swin block library.

Both take the reference constructor arguments unchanged (a reference config passes as-is),
use the reference parameter names (released checkpoints load without renaming) and give the
reference outputs. They differ only in the block version (V1 pre-norm attention for SwinIR,
V2 post-norm cosine attention for Swin2SR), Swin2SR's 1x1 projection in its patch
embeddings, and Swin2SR's extra ``pixelshuffle_aux`` reconstruction head.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...layers import PatchEmbed, SwinStage, patch_unembed
from ...layers.winograd import conv3x3
from ..common import init_swin_weights, to_int
from ..contract import SRModel
from ..heads import NUM_FEAT, UPSAMPLERS, Upsample, UpsampleOneStep, image_mean, residual_conv
from ..registry import ARCH_REGISTRY

#: state-dict buffers of the Swin blocks that are recomputed from the configuration
SWIN_DERIVED_BUFFERS = ("attn_mask", "relative_position_index", "relative_coords_table")


class RSTB(nn.Module):
    """Residual Swin Transformer Block: a stage of Swin blocks, a conv, and a skip."""

    def __init__(self, dim: int, resi_connection: str, version: int, **stage_kwargs: Any):
        super().__init__()
        self.residual_group = SwinStage(dim, version=version, **stage_kwargs)
        self.conv = residual_conv(dim, resi_connection)
        # Swin2SR re-embeds through a learned 1x1 projection; SwinIR's embedding has no weights.
        self.patch_embed = PatchEmbed(dim, dim, patch_size=1, use_proj=True) if version == 2 else None

    def forward(self, x: torch.Tensor, x_size: tuple[int, int]) -> torch.Tensor:
        y, _ = self.residual_group(x, x_size)
        # channels-last views: the convolution reads and writes token order, no NCHW copies
        y = self.conv(patch_unembed(y, x_size, channels_last=True))
        if self.patch_embed is not None:
            y, _ = self.patch_embed(y)
        else:
            y = y.flatten(2).transpose(1, 2)
        # without gradients the conv's fresh output takes the skip in place: one feature map less
        return y + x if torch.is_grad_enabled() else y.add_(x)


class SwinSRBase(SRModel):
    """Shared body of SwinIR and Swin2SR; subclasses pick the block ``version``."""

    version: int = 1
    DERIVED_BUFFERS = SWIN_DERIVED_BUFFERS

    def __init__(
        self,
        img_size: int | Sequence[int] = 64,
        patch_size: int | Sequence[int] = 1,
        in_chans: int = 3,
        embed_dim: int = 96,
        depths: Sequence[int] = (6, 6, 6, 6),
        num_heads: Sequence[int] = (6, 6, 6, 6),
        window_size: int = 7,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        qk_scale: float | None = None,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        norm_layer: type[nn.Module] = nn.LayerNorm,
        ape: bool = False,
        patch_norm: bool = True,
        use_checkpoint: bool = False,
        upscale: int = 2,
        img_range: float = 1.0,
        upsampler: str = "",
        resi_connection: str = "1conv",
        **unused: Any,
    ):
        super().__init__()
        if upsampler is None:
            upsampler = ""
        allowed = UPSAMPLERS if self.version == 2 else tuple(u for u in UPSAMPLERS if u != "pixelshuffle_aux")
        if upsampler not in allowed:
            raise ValueError(f"{type(self).__name__}: upsampler must be one of {allowed}, got {upsampler!r}")
        if len(depths) != len(num_heads):
            raise ValueError(f"depths {list(depths)} and num_heads {list(num_heads)} differ in length")
        img_size, patch_size = to_int(img_size), to_int(patch_size)
        if not upsampler:
            upscale = 1
        self.img_size = img_size
        self.in_chans = self.out_chans = in_chans
        self.embed_dim = embed_dim
        self.window_size = self.size_multiple = window_size
        self.img_range = img_range
        self.scale = int(upscale)
        self.upsampler = upsampler
        self.has_aux = upsampler == "pixelshuffle_aux"
        self.ape = ape
        self.register_buffer("mean", image_mean(in_chans), persistent=False)

        # 1. shallow features
        self.conv_first = nn.Conv2d(in_chans, embed_dim, 3, 1, 1)

        # 2. deep features
        resolution = img_size // patch_size
        self.patch_embed = PatchEmbed(
            embed_dim, embed_dim, patch_size=1, norm_layer=norm_layer if patch_norm else None, use_proj=self.version == 2
        )
        if ape:
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, resolution * resolution, embed_dim))
            nn.init.trunc_normal_(self.absolute_pos_embed, std=0.02)
        self.pos_drop = nn.Dropout(p=drop_rate)
        dpr = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.layers = nn.ModuleList()
        for i, (depth, heads) in enumerate(zip(depths, num_heads)):
            self.layers.append(
                RSTB(
                    embed_dim,
                    resi_connection,
                    self.version,
                    depth=depth,
                    num_heads=heads,
                    window_size=window_size,
                    mlp_ratio=mlp_ratio,
                    qkv_bias=qkv_bias,
                    qk_scale=qk_scale if self.version == 1 else None,
                    drop=drop_rate,
                    attn_drop=attn_drop_rate,
                    drop_path=dpr[sum(depths[:i]) : sum(depths[: i + 1])],
                    norm_layer=norm_layer,
                    use_checkpoint=use_checkpoint,
                    input_resolution=(resolution, resolution),
                )
            )
        self.norm = norm_layer(embed_dim)
        self.conv_after_body = residual_conv(embed_dim, resi_connection)

        # 3. reconstruction
        self._build_head(upsampler, self.scale, embed_dim, in_chans)
        self.apply(init_swin_weights)

    def _build_head(self, upsampler: str, upscale: int, embed_dim: int, out_ch: int) -> None:
        if upsampler in ("pixelshuffle", "pixelshuffle_aux", "nearest+conv"):
            self.conv_before_upsample = nn.Sequential(conv3x3(embed_dim, NUM_FEAT), nn.LeakyReLU(inplace=True))
        if upsampler == "pixelshuffle":
            self.upsample = Upsample(upscale, NUM_FEAT)
            self.conv_last = nn.Conv2d(NUM_FEAT, out_ch, 3, 1, 1)
        elif upsampler == "pixelshuffle_aux":
            self.conv_bicubic = nn.Conv2d(out_ch, NUM_FEAT, 3, 1, 1)
            self.conv_aux = nn.Conv2d(NUM_FEAT, out_ch, 3, 1, 1)
            self.conv_after_aux = nn.Sequential(nn.Conv2d(out_ch, NUM_FEAT, 3, 1, 1), nn.LeakyReLU(inplace=True))
            self.upsample = Upsample(upscale, NUM_FEAT)
            self.conv_last = nn.Conv2d(NUM_FEAT, out_ch, 3, 1, 1)
        elif upsampler == "pixelshuffledirect":
            self.upsample = UpsampleOneStep(upscale, embed_dim, out_ch)
        elif upsampler == "nearest+conv":
            if upscale not in (2, 4):
                raise ValueError(f"'nearest+conv' supports upscale 2 or 4, got {upscale}")
            self.conv_up1 = nn.Conv2d(NUM_FEAT, NUM_FEAT, 3, 1, 1)
            if upscale == 4:
                self.conv_up2 = nn.Conv2d(NUM_FEAT, NUM_FEAT, 3, 1, 1)
            self.conv_hr = nn.Conv2d(NUM_FEAT, NUM_FEAT, 3, 1, 1)
            self.conv_last = nn.Conv2d(NUM_FEAT, out_ch, 3, 1, 1)
            self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        else:
            self.conv_last = nn.Conv2d(embed_dim, out_ch, 3, 1, 1)

    def no_weight_decay(self) -> set[str]:
        return {"absolute_pos_embed"}

    def no_weight_decay_keywords(self) -> set[str]:
        return {"relative_position_bias_table"}

    def pad_to_window(self, x: torch.Tensor) -> torch.Tensor:
        """Reflect-pad H and W up to window multiples, as the reference does (see ``pad_to_multiple``)."""
        return self.pad_to_multiple(x)

    def estimate_bytes_per_pixel(self) -> float:
        """Peak float32 activation bytes per LR pixel of one fast-path forward, with margin.

        Two places can hold the peak: the Swin body (about 12 ``embed_dim``-wide float tensors per
        token alive at once: the residuals kept across groups, the gathered windows, qkv, MLP
        hidden) and, for ``pixelshuffle``-style heads, the 64-channel features at up to the output
        resolution. Fitted to fresh-process peaks (``swinsr.speed.cpu_peak_memory``): SwinIR-S x4
        2.7 KB/px measured, 3.8 KB/px estimated; SwinIR-M x4 9.2 / 13.0; Swin2SR-S x4 2.5 / 3.8.
        (An earlier formula that assumed materialised attention logits overestimated 7x.)
        """
        s2 = self.scale * self.scale
        body = 12 * self.embed_dim
        if self.upsampler in ("pixelshuffle", "pixelshuffle_aux", "nearest+conv"):
            head = 2.5 * NUM_FEAT * s2
        else:
            head = 2.0 * self.out_chans * s2
        return 4.0 * (max(body, head) + self.out_chans * s2) * 1.25

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x_size = (x.shape[2], x.shape[3])
        x, _ = self.patch_embed(x)
        if self.ape:
            if x.shape[1] != self.absolute_pos_embed.shape[1]:
                raise ValueError(
                    f"this model uses an absolute position embedding for {self.img_size}x{self.img_size} inputs; "
                    f"got {x_size[0]}x{x_size[1]} after padding"
                )
            x = x + self.absolute_pos_embed
        x = self.pos_drop(x)
        for layer in self.layers:
            x = layer(x, x_size)
        return patch_unembed(self.norm(x), x_size, channels_last=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Restore a batch ``(B, C, H, W)`` of images in ``[0, 1]``; any H and W.

        Returns ``(B, C, H*s, W*s)``, or ``(sr, aux)`` for ``upsampler='pixelshuffle_aux'``
        (``aux`` is the low-resolution auxiliary image at the padded input size).
        """
        h, w = x.shape[2:]
        # channels-last end to end: every conv then works on (and hands back) token order
        x = self.pad_to_window(x).contiguous(memory_format=torch.channels_last)
        mean = self.mean.type_as(x)
        x = (x - mean) * self.img_range
        up = self.upsampler
        aux = None
        if up == "":
            first = self.conv_first(x)
            x = x + self.conv_last(self.conv_after_body(self.forward_features(first)) + first)
        else:
            if up == "pixelshuffle_aux":
                # the reference resizes the *padded* input straight to the unpadded target size
                bicubic = F.interpolate(x, size=(h * self.scale, w * self.scale), mode="bicubic", align_corners=False)
                bicubic = self.conv_bicubic(bicubic)
            x = self.conv_first(x)
            body = self.conv_after_body(self.forward_features(x))
            x = body + x if torch.is_grad_enabled() else body.add_(x)  # in place: a fresh conv output
            if up == "pixelshuffle":
                x = self.conv_last(self.upsample(self.conv_before_upsample(x)))
            elif up == "pixelshuffledirect":
                x = self.upsample(x)
            elif up == "nearest+conv":
                x = self.conv_before_upsample(x)
                x = self.lrelu(self.conv_up1(F.interpolate(x, scale_factor=2, mode="nearest")))
                if self.scale == 4:
                    x = self.lrelu(self.conv_up2(F.interpolate(x, scale_factor=2, mode="nearest")))
                x = self.conv_last(self.lrelu(self.conv_hr(x)))
            else:  # pixelshuffle_aux
                x = self.conv_before_upsample(x)
                aux = self.conv_aux(x)
                x = self.upsample(self.conv_after_aux(aux))
                x = self.conv_last(x[:, :, : h * self.scale, : w * self.scale] + bicubic)
                aux = aux / self.img_range + mean
        x = x / self.img_range + mean if torch.is_grad_enabled() else x.div_(self.img_range).add_(mean)
        x = x[:, :, : h * self.scale, : w * self.scale].contiguous()
        return (x, aux.contiguous()) if aux is not None else x


@ARCH_REGISTRY.register()
class SwinIR(SwinSRBase):
    """SwinIR (Liang et al., 2021): Swin V1 blocks in residual groups, for SR, denoising and JPEG CAR.

    Constructor arguments are those of the reference ``network_swinir.SwinIR``, e.g. SwinIR-S x4:
    ``SwinIR(upscale=4, img_size=64, window_size=8, img_range=1., depths=[6]*4, embed_dim=60,
    num_heads=[6]*4, mlp_ratio=2, upsampler='pixelshuffledirect')``.
    """

    version = 1
    family = "swinir"


@ARCH_REGISTRY.register()
class Swin2SR(SwinSRBase):
    """Swin2SR (Conde et al., 2022): SwinIR with Swin V2 blocks, plus the ``pixelshuffle_aux`` head.

    Constructor arguments are those of the reference ``network_swin2sr.Swin2SR``.
    """

    version = 2
    family = "swin2sr"
