"""The HAT family (Hybrid Attention Transformer): model, detection and the released configurations."""

from ..family import Family, register_family
from .detect import detect_hat, is_hat_layout
from .model import HAT, GroupedSRBase

_BASE = dict(in_chans=3, img_size=64, window_size=16, conv_scale=0.01, overlap_ratio=0.5, img_range=1.0,
             mlp_ratio=2, upsampler="pixelshuffle", resi_connection="1conv")
#: the released configurations (official option files), x4
HAT_S = dict(_BASE, compress_ratio=24, squeeze_factor=24, depths=[6] * 6, embed_dim=144, num_heads=[6] * 6)
HAT_M = dict(_BASE, compress_ratio=3, squeeze_factor=30, depths=[6] * 6, embed_dim=180, num_heads=[6] * 6)
HAT_L = dict(HAT_M, depths=[6] * 12, num_heads=[6] * 12)

#: small configurations for the generic contract tests: both residual connections, two overlap
#: ratios, x2/x3/x4, no qkv bias, no patch norm, one input channel
_TINY = dict(img_size=16, window_size=4, embed_dim=12, depths=[2], num_heads=[2], mlp_ratio=2, compress_ratio=3,
             squeeze_factor=6, upsampler="pixelshuffle")
_TEST_CONFIGS = (
    dict(_TINY, upscale=2, overlap_ratio=0.5, resi_connection="1conv"),
    dict(_TINY, upscale=3, overlap_ratio=0.5, resi_connection="identity", depths=[2, 1], num_heads=[2, 3]),
    dict(_TINY, upscale=4, overlap_ratio=1.0, qkv_bias=False, patch_norm=False, conv_scale=0.5),
    dict(_TINY, upscale=2, in_chans=1, window_size=8, overlap_ratio=0.25, img_range=255.0),
)

register_family(Family(
    name="hat", type_name="HAT", detect=detect_hat, order=10,
    presets={"hat-s-x4": dict(upscale=4, **HAT_S), "hat-x4": dict(upscale=4, **HAT_M), "hat-l-x4": dict(upscale=4, **HAT_L)},
    test_configs=_TEST_CONFIGS,
    description="HAT (Chen et al. 2023): window attention + channel-attention conv branch + overlapping cross-attention",
))

__all__ = ["HAT", "HAT_L", "HAT_M", "HAT_S", "GroupedSRBase", "detect_hat", "is_hat_layout"]
