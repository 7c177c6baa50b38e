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

register_family(Family(
    name="dat", type_name="DAT", detect=detect_dat, order=30,
    presets={
        "dat-light-x4": dict(upscale=4, **_LIGHT),
        "dat-s-x4": dict(upscale=4, split_size=[8, 16], expansion_factor=2, **_CLASSICAL),
        "dat-x4": dict(upscale=4, split_size=[8, 32], expansion_factor=4, **_CLASSICAL),
    },
    description="DAT (Chen et al. 2023): rectangle-window spatial + channel attention SR (DAT, DAT-S, DAT-2, DAT-light)",
))

__all__ = ["DAT", "ResidualGroup", "detect_dat", "is_dat_layout"]
