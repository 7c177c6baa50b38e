"""HAT (Chen et al., CVPR 2023): SwinIR's layout with hybrid attention groups.

Constructor arguments, parameter names and outputs are those of the reference
``hat/archs/hat_arch.py`` (a reference option file's ``network_g`` passes unchanged). The
reference network does not pad: its test pipeline reflect-pads the input (bottom/right) to a
window multiple and crops the output; :meth:`HAT.forward` does exactly that itself, so any H
and W work. :class:`GroupedSRBase` is the shared SwinIR-style frame (shallow conv, residual
groups, ``pixelshuffle`` head) that DRCT reuses with its own groups.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn

from ...layers import PatchEmbed, patch_unembed, relative_position_index
from ...layers.hat import RHAG, overlap_relative_position_index, overlap_window_size
from ...layers.winograd import conv3x3
from ..common import init_swin_weights, to_int
from ..contract import SRModel
from ..heads import NUM_FEAT, Upsample, image_mean
from ..registry import ARCH_REGISTRY

Size = tuple[int, int]


class GroupedSRBase(SRModel):
    """Shallow conv -> residual groups (tokens) -> norm -> conv -> ``pixelshuffle`` head.

    Subclasses call :meth:`_build` with a factory for group ``i``. Only the reference's
    ``'pixelshuffle'`` upsampler exists in HAT and DRCT (with any other value the reference
    network returns its input), so other values are rejected.
    """

    def _build(
        self,
        *,
        img_size: int | Sequence[int],
        patch_size: int | Sequence[int],
        in_chans: int,
        embed_dim: int,
        window_size: int,
        drop_rate: float,
        norm_layer: type[nn.Module],
        ape: bool,
        patch_norm: bool,
        upscale: int,
        img_range: float,
        upsampler: str | None,
        resi_connection: str,
        make_group: Any,
    ) -> None:
        name = type(self).__name__
        if upsampler != "pixelshuffle":
            raise ValueError(f"{name}: upsampler must be 'pixelshuffle' (the only head the reference builds), got {upsampler!r}")
        if resi_connection not in ("1conv", "identity"):
            raise ValueError(f"{name}: resi_connection must be '1conv' or 'identity', got {resi_connection!r}")
        img_size, patch_size = to_int(img_size), to_int(patch_size)
        self.img_size = img_size
        self.in_chans = self.out_chans = in_chans
        self.embed_dim = embed_dim
        self.window_size = self.size_multiple = window_size
        self.img_range = img_range
        self.scale = int(upscale)
        self.upsampler = upsampler
        self.ape = ape
        self.register_buffer("mean", image_mean(in_chans), persistent=False)

        self.conv_first = nn.Conv2d(in_chans, embed_dim, 3, 1, 1)
        resolution = img_size // patch_size
        self.patch_embed = PatchEmbed(embed_dim, embed_dim, patch_size=1, norm_layer=norm_layer if patch_norm else None, use_proj=False)
        if ape:
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, resolution * resolution, embed_dim))
            nn.init.trunc_normal_(self.absolute_pos_embed, std=0.02)
        self.pos_drop = nn.Dropout(p=drop_rate)
        self.layers = nn.ModuleList(make_group(i, (resolution, resolution)) for i in range(self._num_groups))
        self.norm = norm_layer(embed_dim)
        self.conv_after_body = conv3x3(embed_dim, embed_dim) if resi_connection == "1conv" else nn.Identity()
        self.conv_before_upsample = nn.Sequential(conv3x3(embed_dim, NUM_FEAT), nn.LeakyReLU(inplace=True))
        self.upsample = Upsample(self.scale, NUM_FEAT)
        self.conv_last = nn.Conv2d(NUM_FEAT, in_chans, 3, 1, 1)
        self.apply(init_swin_weights)

    _num_groups: int = 0

    def no_weight_decay(self) -> set[str]:
        return {"absolute_pos_embed"}

    def no_weight_decay_keywords(self) -> set[str]:
        return {"relative_position_bias_table"}

    #: float32 body tensors alive per token, in units of :meth:`_body_width` channels (fitted)
    _BODY_FACTOR: float = 18.0

    def _body_width(self) -> int:
        """Channels of the widest token tensor of the body (for the memory estimate)."""
        return self.embed_dim

    def estimate_bytes_per_pixel(self) -> float:
        """Peak float32 activation bytes per LR pixel of one fast-path forward, with margin.

        ``_BODY_FACTOR`` body-width float tensors per token, or the 64-channel head at the output
        resolution if that is larger (the SwinIR formula's head term). Fitted to the per-pixel
        growth of fresh-process peaks between 64x64 and 128x128 inputs
        (``swinsr.speed.cpu_peak_memory``, eager fp32): HAT-S x4 10.4 KB/px measured, 12.9
        estimated; HAT x4 13.1 / 16.1; DRCT x4 11.2 / 13.8. A fixed 100-170 MB per process
        (allocator and oneDNN caches) comes on top and is not per pixel.
        """
        s2 = self.scale * self.scale
        body = self._BODY_FACTOR * self._body_width()
        head = 2.5 * NUM_FEAT * s2
        return 4.0 * (max(body, head) + self.out_chans * s2) * 1.25

    def _run_group(self, layer: nn.Module, x: torch.Tensor, x_size: Size) -> torch.Tensor:
        return layer(x, x_size)

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
            x = self._run_group(layer, x, x_size)
        return patch_unembed(self.norm(x), x_size, channels_last=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Super-resolve ``(B, C, H, W)`` in ``[0, 1]`` (any H, W) -> ``(B, C, H*s, W*s)``.

        The input is reflect-padded to a window multiple and the output cropped, exactly as the
        reference test pipeline (``pre_process`` / ``post_process``) does.
        """
        h, w = x.shape[2:]
        x = self.pad_to_multiple(x).contiguous(memory_format=torch.channels_last)
        mean = self.mean.type_as(x)
        x = (x - mean) * self.img_range
        x = self.conv_first(x)
        x = self.conv_after_body(self.forward_features(x)) + x
        x = self.conv_last(self.upsample(self.conv_before_upsample(x)))
        x = x / self.img_range + mean
        return x[:, :, : h * self.scale, : w * self.scale].contiguous()


@ARCH_REGISTRY.register()
class HAT(GroupedSRBase):
    """Hybrid Attention Transformer: residual hybrid attention groups (:class:`~swinsr.layers.hat.RHAG`).

    Arguments are the reference ones, e.g. HAT-S x4: ``HAT(upscale=4, in_chans=3, img_size=64,
    window_size=16, compress_ratio=24, squeeze_factor=24, conv_scale=0.01, overlap_ratio=0.5,
    img_range=1., depths=[6]*6, embed_dim=144, num_heads=[6]*6, mlp_ratio=2,
    upsampler='pixelshuffle', resi_connection='1conv')``. ``upsampler`` must be
    ``'pixelshuffle'`` and ``resi_connection`` ``'1conv'`` or ``'identity'`` (what the reference
    builds); unknown extra keyword arguments are ignored, as the reference does.
    """

    family = "hat"
    DERIVED_BUFFERS = ("relative_position_index_SA", "relative_position_index_OCA")

    def __init__(
        self,
        img_size: int | Sequence[int] = 64,
        patch_size: int | Sequence[int] = 1,
        in_chans: int = 3,
        embed_dim: int = 96,
        depths: Sequence[int] = (6, 6, 6, 6),
        num_heads: Sequence[int] = (6, 6, 6, 6),
        window_size: int = 7,
        compress_ratio: int = 3,
        squeeze_factor: int = 30,
        conv_scale: float = 0.01,
        overlap_ratio: float = 0.5,
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
        if len(depths) != len(num_heads):
            raise ValueError(f"depths {list(depths)} and num_heads {list(num_heads)} differ in length")
        self.overlap_ratio = overlap_ratio
        self._num_groups = len(depths)
        # plain floats, computed on the CPU even under a meta-device context (shape-only builds)
        dpr = torch.linspace(0, drop_path_rate, sum(depths), device="cpu").tolist()

        def group(i: int, resolution: Size) -> nn.Module:
            return RHAG(
                embed_dim,
                resi_connection,
                depth=depths[i],
                num_heads=num_heads[i],
                window_size=window_size,
                compress_ratio=compress_ratio,
                squeeze_factor=squeeze_factor,
                conv_scale=conv_scale,
                overlap_ratio=overlap_ratio,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                qk_scale=qk_scale,
                drop=drop_rate,
                attn_drop=attn_drop_rate,
                drop_path=dpr[sum(depths[:i]) : sum(depths[: i + 1])],
                norm_layer=norm_layer,
                use_checkpoint=use_checkpoint,
                input_resolution=resolution,
            )

        self._build(
            img_size=img_size, patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim, window_size=window_size,
            drop_rate=drop_rate, norm_layer=norm_layer, ape=ape, patch_norm=patch_norm, upscale=upscale,
            img_range=img_range, upsampler=upsampler, resi_connection=resi_connection, make_group=group,
        )

    def reference_buffers(self) -> dict[str, torch.Tensor]:
        """HAT keeps its two position indices on the model (the shift mask is never stored)."""
        ws = self.window_size
        return {
            "relative_position_index_SA": relative_position_index(ws),
            "relative_position_index_OCA": overlap_relative_position_index(ws, overlap_window_size(ws, self.overlap_ratio)),
        }
