"""The SwinIR and Swin2SR families: model, detection and named configurations."""

from ..family import Family, register_family
from .detect import detect_swin2sr, detect_swin_sr, detect_swinir
from .grow import grow_depth
from .model import RSTB, SWIN_DERIVED_BUFFERS, Swin2SR, SwinIR, SwinSRBase

_LIGHT = dict(img_size=64, window_size=8, img_range=1.0, depths=[6] * 4, embed_dim=60, num_heads=[6] * 4,
              mlp_ratio=2, upsampler="pixelshuffledirect", resi_connection="1conv")
_CLASSICAL = dict(img_size=64, window_size=8, img_range=1.0, depths=[6] * 6, embed_dim=180, num_heads=[6] * 6,
                  mlp_ratio=2, upsampler="pixelshuffle", resi_connection="1conv")

_TINY = dict(img_size=16, window_size=4, depths=[2], embed_dim=8, num_heads=[2], mlp_ratio=2)
# every upsampler and the options that change weights or outputs (each must survive save -> load)
_TEST_CONFIGS = (
    dict(upscale=2, upsampler="pixelshuffle", **_TINY),
    dict(upscale=3, upsampler="pixelshuffledirect", resi_connection="3conv", **{**_TINY, "embed_dim": 16}),
    dict(upscale=4, upsampler="nearest+conv", qkv_bias=False, **_TINY),
    dict(upscale=1, upsampler="", in_chans=1, img_range=255.0, patch_norm=False, **_TINY),
)

register_family(Family(
    name="swinir", type_name="SwinIR", detect=detect_swinir, order=50,
    presets={"swinir-s-x4": dict(upscale=4, **_LIGHT), "swinir-m-x4": dict(upscale=4, **_CLASSICAL)},
    test_configs=_TEST_CONFIGS,
    description="SwinIR (Liang et al. 2021): classical/lightweight/real-world SR, denoising, JPEG",
))
register_family(Family(
    name="swin2sr", type_name="Swin2SR", detect=detect_swin2sr, order=51,
    presets={"swin2sr-s-x4": dict(upscale=4, **_LIGHT)},
    test_configs=(*_TEST_CONFIGS, dict(upscale=2, upsampler="pixelshuffle_aux", **_TINY)),
    description="Swin2SR (Conde et al. 2022): SwinIR with Swin V2 blocks",
))

__all__ = ["RSTB", "SWIN_DERIVED_BUFFERS", "Swin2SR", "SwinIR", "SwinSRBase", "detect_swin2sr", "detect_swin_sr", "detect_swinir", "grow_depth"]
