"""The Swin block library: every swinsr model is assembled from these pieces."""

from .attention import WindowAttention, WindowAttentionBase, WindowAttentionV2
from .block import SwinBlock, SwinStage
from .fastpath import fast_path_enabled, plain_path, set_fast_path
from .cpu_attention import cpu_kernel, kernel_status
from .embed import PatchEmbed, PatchMerging, patch_unembed
from .mlp import DropPath, Mlp, drop_path
from .position import infer_pretrained_window_size, log_spaced_relative_coords, relative_position_index
from .swint import SwinT
from .windows import cyclic_shift, pad_to_multiple, shifted_window_mask, window_partition, window_reverse
from .hat import CAB, HAB, OCAB, RHAG, ChannelAttention, HybridAttentionStage, overlap_relative_position_index
from .drct import RDG, dense_block_heads
from .dat import (
    SGFN, AdaptiveChannelAttention, AdaptiveSpatialAttention, DATBlock, DynamicPosBias, RectWindowAttention, SpatialGate,
    dat_block_shifted, rect_shift_mask, rect_window_partition, rect_window_reverse,
)

__all__ = [
    "AdaptiveChannelAttention",
    "AdaptiveSpatialAttention",
    "DATBlock",
    "DynamicPosBias",
    "RectWindowAttention",
    "SGFN",
    "SpatialGate",
    "dat_block_shifted",
    "rect_shift_mask",
    "rect_window_partition",
    "rect_window_reverse",
    "CAB",
    "ChannelAttention",
    "HAB",
    "HybridAttentionStage",
    "OCAB",
    "RDG",
    "RHAG",
    "dense_block_heads",
    "overlap_relative_position_index",
    "DropPath",
    "Mlp",
    "PatchEmbed",
    "PatchMerging",
    "SwinBlock",
    "SwinStage",
    "SwinT",
    "WindowAttention",
    "WindowAttentionBase",
    "WindowAttentionV2",
    "cpu_kernel",
    "cyclic_shift",
    "drop_path",
    "fast_path_enabled",
    "plain_path",
    "set_fast_path",
    "infer_pretrained_window_size",
    "kernel_status",
    "log_spaced_relative_coords",
    "pad_to_multiple",
    "patch_unembed",
    "relative_position_index",
    "shifted_window_mask",
    "window_partition",
    "window_reverse",
]
