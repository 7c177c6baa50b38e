"""DRCT (Hsu et al., CVPRW 2024): SwinIR's frame with dense residual groups.

Constructor arguments, parameter names and outputs are those of the reference
``drct/archs/DRCT_arch.py``. Like HAT, the reference network does not pad and its test pipeline
reflect-pads to a window multiple and crops; :meth:`DRCT.forward` (from
:class:`~swinsr.archs.hat.model.GroupedSRBase`) does the same.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn

from ...layers.drct import DENSE_BLOCKS, RDG
from ..hat.model import GroupedSRBase
from ..registry import ARCH_REGISTRY

Size = tuple[int, int]

#: the Swin-block buffers DRCT's reference state dicts carry (recomputed, never loaded)
DRCT_DERIVED_BUFFERS = ("attn_mask", "relative_position_index")


@ARCH_REGISTRY.register()
class DRCT(GroupedSRBase):
    """Dense-residual-connected transformer: one :class:`~swinsr.layers.drct.RDG` per entry of ``depths``.

    Arguments are the reference ones, e.g. DRCT x4: ``DRCT(upscale=4, in_chans=3, img_size=64,
    window_size=16, compress_ratio=3, squeeze_factor=30, conv_scale=0.01, overlap_ratio=0.5,
    img_range=1., depths=[6]*6, embed_dim=180, num_heads=[6]*6, gc=32, mlp_ratio=2,
    upsampler='pixelshuffle', resi_connection='1conv')``. As in the reference, only the *number*
    of ``depths`` entries shapes the network (each group has five blocks; the values only slice
    the stochastic-depth schedule), and ``compress_ratio``, ``squeeze_factor``, ``conv_scale``,
    ``overlap_ratio`` are accepted and unused.
    """

    family = "drct"
    DERIVED_BUFFERS = DRCT_DERIVED_BUFFERS

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
        gc: int = 32,
        **unused: Any,
    ):
        super().__init__()
        if len(depths) != len(num_heads):
            raise ValueError(f"depths {list(depths)} and num_heads {list(num_heads)} differ in length")
        self.gc = gc
        self._num_groups = len(depths)
        # plain floats, computed on the CPU even under a meta-device context (shape-only builds)
        dpr = torch.linspace(0, drop_path_rate, sum(depths), device="cpu").tolist()

        def group(i: int, resolution: Size) -> nn.Module:
            rates = dpr[sum(depths[:i]) : sum(depths[: i + 1])]
            return RDG(
                embed_dim,
                num_heads[i],
                window_size,
                gc=gc,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                qk_scale=qk_scale,
                drop=drop_rate,
                attn_drop=attn_drop_rate,
                drop_path=rates[0] if rates else 0.0,
                norm_layer=norm_layer,
                input_resolution=resolution,
                use_checkpoint=use_checkpoint,
            )

        self._build(
            img_size=img_size, patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim, window_size=window_size,
            drop_rate=drop_rate, norm_layer=norm_layer, ape=ape, patch_norm=patch_norm, upscale=upscale,
            img_range=img_range, upsampler=upsampler, resi_connection=resi_connection, make_group=group,
        )

    # the dense concatenation is the widest tensor; fewer of them are alive at once than in HAT
    _BODY_FACTOR = 9.0

    def _body_width(self) -> int:
        return self.embed_dim + (DENSE_BLOCKS - 1) * self.gc
