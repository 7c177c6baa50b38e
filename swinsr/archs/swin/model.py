"""Swin Transformer V1 and V2 image classifiers (Microsoft reference layout and arguments)."""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn

from ...layers import PatchEmbed, PatchMerging, SwinStage
from ..common import init_swin_weights, to_int
from ..contract import ConfiguredModule
from ..registry import ARCH_REGISTRY
from ..swinir.model import SWIN_DERIVED_BUFFERS


class SwinClassifierBase(ConfiguredModule):
    """Patch embedding, four stages with patch merging, global average pool and a linear head."""

    version: int = 1
    DERIVED_BUFFERS = SWIN_DERIVED_BUFFERS

    def __init__(
        self,
        img_size: int | Sequence[int] = 224,
        patch_size: int | Sequence[int] = 4,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 96,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
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
        pretrained_window_sizes: Sequence[int] | None = None,
        **unused: Any,
    ):
        super().__init__()
        img_size, patch_size = to_int(img_size), to_int(patch_size)
        num_layers = len(depths)
        pws = list(pretrained_window_sizes) if pretrained_window_sizes is not None else [0] * num_layers
        if len(depths) != len(num_heads) or len(pws) != num_layers:
            raise ValueError("depths, num_heads and pretrained_window_sizes must have one entry per stage")
        self.num_classes = num_classes
        self.img_size = img_size
        self.in_chans = in_chans
        self.num_features = int(embed_dim * 2 ** (num_layers - 1))
        self.ape = ape

        self.patch_embed = PatchEmbed(in_chans, embed_dim, patch_size, norm_layer if patch_norm else None)
        resolution = img_size // patch_size
        if ape:
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, resolution * resolution, embed_dim))
            nn.init.trunc_normal_(self.absolute_pos_embed, std=0.02)
        self.pos_drop = nn.Dropout(p=drop_rate)
        dpr = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.layers = nn.ModuleList()
        for i in range(num_layers):
            dim = embed_dim * 2**i
            res = resolution // 2**i
            last = i == num_layers - 1
            self.layers.append(
                SwinStage(
                    dim,
                    depths[i],
                    num_heads[i],
                    window_size,
                    mlp_ratio=mlp_ratio,
                    qkv_bias=qkv_bias,
                    qk_scale=qk_scale if self.version == 1 else None,
                    drop=drop_rate,
                    attn_drop=attn_drop_rate,
                    drop_path=dpr[sum(depths[:i]) : sum(depths[: i + 1])],
                    norm_layer=norm_layer,
                    downsample=None if last else PatchMerging(dim, norm_layer=norm_layer, version=self.version),
                    use_checkpoint=use_checkpoint,
                    version=self.version,
                    pretrained_window_size=pws[i],
                    input_resolution=(res, res),
                )
            )
        self.norm = norm_layer(self.num_features)
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.apply(init_swin_weights)

    def no_weight_decay(self) -> set[str]:
        return {"absolute_pos_embed"}

    def no_weight_decay_keywords(self) -> set[str]:
        return {"relative_position_bias_table", "cpb_mlp", "logit_scale"}

    def forward_tokens(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """Final-stage tokens ``(B, h*w, C)`` (normalised) and their map size: a backbone output."""
        x, size = self.patch_embed(x)
        if self.ape:
            x = x + self.absolute_pos_embed
        x = self.pos_drop(x)
        for layer in self.layers:
            x, size = layer(x, size)
        return self.norm(x), size

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally pooled features ``(B, num_features)`` (the reference ``forward_features``)."""
        return self.forward_tokens(x)[0].mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, num_classes)`` for images normalised with ImageNet mean/std."""
        return self.head(self.forward_features(x))


@ARCH_REGISTRY.register()
class SwinTransformer(SwinClassifierBase):
    """Swin Transformer V1 (Liu et al., 2021), arguments of Microsoft's ``SwinTransformer``."""

    version = 1
    family = "swin"


@ARCH_REGISTRY.register()
class SwinTransformerV2(SwinClassifierBase):
    """Swin Transformer V2 (Liu et al., 2022), arguments of Microsoft's ``SwinTransformerV2``.

    ``pretrained_window_sizes`` (one per stage) keeps the position-bias coordinate scale of a
    lower-resolution pre-training when fine-tuning with larger windows.
    """

    version = 2
    family = "swinv2"
