"""The DAT family (Dual Aggregation Transformer, Chen et al. 2023): model, detection, named configurations."""

from ..family import Family, register_family
from ..registry import ARCH_REGISTRY
from .detect import detect_dat, is_dat_layout
from .model import DAT, ResidualGroup

ARCH_REGISTRY.register()(DAT)

_CLASSICAL = dict(in_chans=3, img_size=64, img_range=1.0, depth=[6] * 6, embed_dim=180, num_heads=[6] * 6,
                  resi_connection="1conv", upsampler="pixelshuffle")
_LIGHT = dict(in_chans=3, img_size=64, img_range=1.0, depth=[18], embed_dim=60, num_heads=[6], expansion_factor=2,
              resi_connection="3conv", split_size=[8, 32], upsampler="pixelshuffledirect")

#: small configurations for the generic contract tests: both heads and residual connections, x2/x3/x4,
#: both split orders and a square window, shifted blocks in even and odd groups, a one-block group,
#: no qkv bias, one input channel, img_range 255 (embed_dim 32: the smallest with a non-empty position MLP)
_TINY = dict(img_size=16, embed_dim=32, num_heads=[2, 2], expansion_factor=2, drop_path_rate=0.0)
_TEST_CONFIGS = (
    dict(_TINY, upscale=2, depth=[3, 1], split_size=[2, 4], upsampler="pixelshuffledirect", resi_connection="1conv"),
    dict(_TINY, upscale=3, depth=[2, 2], split_size=[4, 2], upsampler="pixelshuffle", resi_connection="3conv",
         qkv_bias=False, expansion_factor=1.5),
    dict(_TINY, upscale=4, depth=[3], num_heads=[4], split_size=[2, 2], upsampler="pixelshuffle", in_chans=1,
         img_range=255.0, resi_connection="1conv"),
)

register_family(Family(
    name="dat", type_name="DAT", detect=detect_dat, order=30,
    presets={
        "dat-light-x4": dict(upscale=4, **_LIGHT),
        "dat-s-x4": dict(upscale=4, split_size=[8, 16], expansion_factor=2, **_CLASSICAL),
        "dat-x4": dict(upscale=4, split_size=[8, 32], expansion_factor=4, **_CLASSICAL),
    },
    test_configs=_TEST_CONFIGS,
    description="DAT (Chen et al. 2023): rectangle-window spatial + channel attention SR (DAT, DAT-S, DAT-2, DAT-light)",
))

__all__ = ["DAT", "ResidualGroup", "detect_dat", "is_dat_layout"]
