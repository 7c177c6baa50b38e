"""The DRCT family (dense residual connected transformer): model, detection and released configurations."""

from ..family import Family, register_family
from .detect import detect_drct, is_drct_layout
from .model import DRCT, DRCT_DERIVED_BUFFERS

_BASE = dict(in_chans=3, img_size=64, window_size=16, compress_ratio=3, squeeze_factor=30, conv_scale=0.01,
             overlap_ratio=0.5, img_range=1.0, mlp_ratio=2, upsampler="pixelshuffle", resi_connection="1conv")
#: the released configurations (official option files), x4
DRCT_M = dict(_BASE, depths=[6] * 6, embed_dim=180, num_heads=[6] * 6)
DRCT_L = dict(_BASE, depths=[6] * 12, embed_dim=180, num_heads=[6] * 12)

#: small configurations for the generic contract tests: head formula with uneven widths, x2/x3/x4,
#: no qkv bias, no patch norm, identity residual, one input channel
_TINY = dict(img_size=16, window_size=4, embed_dim=12, depths=[2], num_heads=[3], mlp_ratio=2, gc=4,
             upsampler="pixelshuffle")
_TEST_CONFIGS = (
    dict(_TINY, upscale=2),
    dict(_TINY, upscale=3, depths=[1, 1], num_heads=[3, 2], resi_connection="identity"),
    dict(_TINY, upscale=4, qkv_bias=False, patch_norm=False, gc=6),
    dict(_TINY, upscale=2, in_chans=1, window_size=8, img_range=255.0),
)

register_family(Family(
    name="drct", type_name="DRCT", detect=detect_drct, order=20,
    presets={"drct-x4": dict(upscale=4, **DRCT_M), "drct-l-x4": dict(upscale=4, **DRCT_L)},
    test_configs=_TEST_CONFIGS,
    description="DRCT (Hsu et al. 2024): Swin blocks in dense residual groups",
))

__all__ = ["DRCT", "DRCT_DERIVED_BUFFERS", "DRCT_L", "DRCT_M", "detect_drct", "is_drct_layout"]
