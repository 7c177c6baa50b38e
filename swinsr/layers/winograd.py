"""3x3 convolutions for CPU inference through Winograd's F(4x4, 3x3) (``kernels/winograd.cpp``).

A Swin restoration network closes every residual group with a 3x3 convolution of its full
width (180 channels in SwinIR-M and HAT): about a fifth of SwinIR-M's arithmetic, which oneDNN's
direct convolution runs at ~80% of an AVX2 core's peak. Winograd's minimal filtering computes a
4x4 output tile from a 6x6 input tile with 36 multiplications per channel pair instead of 144,
so the work becomes 36 GEMMs of (tiles x C_in) @ (C_in x C_out) (``torch.bmm``) between two cheap
memory-bound transforms (swinsr's kernel, compiled like the attention kernel by
:mod:`.native`). Measured on a 2-core AVX2 CPU at 128 x 128: a 180 -> 180 convolution in about
33 ms instead of 58, 60 -> 180 (HAT's channel attention) in 12 instead of 18, 180 -> 60 in 17
instead of 21; with thinner layers the 36 GEMMs are too thin to win (64 -> 64: 6.5 against 7.0
ms, 48 -> 48: 5.2 against 4.4, 180 -> 32: 12.4 against 10.4), hence :func:`worthwhile`.

Winograd trades exactness for speed: the transforms' constants (up to 8 and 1/24) make the
rounding error several times a direct convolution's (max abs 6e-5 against 8e-6 on a unit-scale
180-channel output; 1e-6 at the output of SwinIR-M). It is therefore part of the fast path only:
float32 on the CPU, without autograd (training and the plain path keep ``F.conv2d``), not under
tracing / compiling / export, not with ``SWINSR_CPU_KERNEL=0`` (all of swinsr's kernels) or
``SWINSR_WINOGRAD=0`` (this one), and never without a compiler.

:class:`FastConv2d` is an ``nn.Conv2d`` (same parameters, same state-dict keys, same behaviour
everywhere else) whose forward takes this path when it applies. The transformed weight is cached
per module and recomputed when the weight changes (:func:`.fastpath.derived_cached`).
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path

import torch
import torch.nn as nn

from . import native
from .cpu_attention import kernel_enabled
from .fastpath import caching_allowed, derived_cached, fast_path_enabled

_SOURCE = Path(__file__).with_name("kernels") / "winograd.cpp"

#: Thinner layers than this (either side, or in their product) run faster directly (module doc).
MIN_CHANNELS = 60
MIN_CHANNEL_PRODUCT = 96 * 96
#: Tiles per transform-GEMM-transform round: bounds the scratch memory (2 x 36 x tiles x channels
#: floats, 53 MB at 180 channels) and keeps a round's operands in the last-level cache.
TILES_PER_ROUND = 1024

# the transform of the kernel: U = G g G^T (Lavin & Gray's F(4x4, 3x3) with points 0, +-1, +-2)
_G = (
    (1 / 4, 0, 0),
    (-1 / 6, -1 / 6, -1 / 6),
    (-1 / 6, 1 / 6, -1 / 6),
    (1 / 24, 1 / 12, 1 / 6),
    (1 / 24, -1 / 12, 1 / 6),
    (0, 0, 1),
)

_lock = threading.Lock()
_state: dict = {"lib": None, "tried": False, "error": None, "path": None}


def _declare(lib: ctypes.CDLL) -> None:
    p, i = ctypes.c_void_p, ctypes.c_int64
    lib.swinsr_wino43_input_f32.argtypes = [p, i, i, i, i, i, i, p, i, i, i, i]
    lib.swinsr_wino43_output_f32.argtypes = [p, i, i, i, p, i, i, i, p, i, i, i, i]
    lib.swinsr_wino43_input_f32.restype = lib.swinsr_wino43_output_f32.restype = None
    lib.swinsr_wino43_openmp.restype = ctypes.c_int
    if not lib.swinsr_wino43_openmp():
        # the transforms would run on one core while the GEMMs use all: the measured
        # break-even points of worthwhile() would not hold
        raise RuntimeError("built without OpenMP")


def _library() -> ctypes.CDLL | None:
    return native.load_once(_state, _lock, _SOURCE, _declare, native.openmp_runtime, "3x3 convolutions stay direct")


def _enabled() -> bool:
    off = os.environ.get("SWINSR_WINOGRAD", "1").strip().lower() in ("0", "false", "no", "off")
    return kernel_enabled() and not off


def winograd_status() -> str:
    """One line for benchmarks: whether 3x3 convolutions may use Winograd, and if not, why."""
    if not _enabled():
        return "off (SWINSR_WINOGRAD=0, SWINSR_CPU_KERNEL=0 or cpu_kernel(False))"
    if _library() is None:
        return f"unavailable ({_state['error']})"
    return f"on (F(4x4,3x3) for {MIN_CHANNELS}+ channels each side, {MIN_CHANNEL_PRODUCT}+ in x out)"


def transform_weight(weight: torch.Tensor) -> torch.Tensor:
    """``(O, C, 3, 3)`` kernels -> ``(36, C, O)``: ``G g G^T`` per channel pair, in float64 then cast."""
    g = torch.tensor(_G, dtype=torch.float64, device=weight.device)
    u = torch.einsum("ai,ocij,bj->abco", g, weight.detach().double(), g)
    return u.reshape(36, weight.shape[1], weight.shape[0]).to(weight.dtype).contiguous()


def winograd_conv3x3(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=1)`` for CPU float32 ``x`` (N, C, H, W), ``u = transform_weight(weight)``.

    The output is channels-last (what the Swin blocks read back as tokens without a copy). Needs
    the kernel (check :func:`winograd_applies` first).
    """
    device = x.device  # every buffer on the CPU, whatever torch's default device
    lib = _library()
    n, c, h, w = x.shape
    o = u.shape[2]
    if not x.is_contiguous(memory_format=torch.channels_last):
        x = x.contiguous(memory_format=torch.channels_last)
    th, tw = -(-h // 4), -(-w // 4)
    tiles = n * th * tw
    y = torch.empty((n, o, h, w), dtype=x.dtype, device=device, memory_format=torch.channels_last)
    bias = None if bias is None else bias.detach().contiguous()  # kept referenced while the kernel reads it
    bias_ptr = None if bias is None else bias.data_ptr()
    sx, sy = x.stride(), y.stride()
    step = min(tiles, TILES_PER_ROUND)
    v = torch.empty((36, step, c), dtype=x.dtype, device=device)
    m = torch.empty((36, step, o), dtype=x.dtype, device=device)
    for t0 in range(0, tiles, step):
        t1 = min(t0 + step, tiles)
        # the last round's operands: contiguous views at the start of the buffers
        vv = v.view(-1)[: 36 * (t1 - t0) * c].view(36, t1 - t0, c)
        mm = m.view(-1)[: 36 * (t1 - t0) * o].view(36, t1 - t0, o)
        lib.swinsr_wino43_input_f32(x.data_ptr(), h, w, c, sx[0], sx[2], sx[3], vv.data_ptr(), th, tw, t0, t1)
        torch.bmm(vv, u, out=mm)
        lib.swinsr_wino43_output_f32(mm.data_ptr(), h, w, o, y.data_ptr(), sy[0], sy[2], sy[3], bias_ptr, th, tw, t0, t1)
    return y


def worthwhile(in_channels: int, out_channels: int) -> bool:
    """Whether a layer is wide enough for Winograd to beat oneDNN's direct convolution (measured)."""
    return min(in_channels, out_channels) >= MIN_CHANNELS and in_channels * out_channels >= MIN_CHANNEL_PRODUCT


def winograd_applies(conv: nn.Conv2d, x: torch.Tensor) -> bool:
    """Whether ``conv(x)`` may run through Winograd (see the module doc for the conditions)."""
    return (
        conv.kernel_size == (3, 3)
        and conv.stride == (1, 1)
        and conv.padding == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
        and worthwhile(conv.in_channels, conv.out_channels)
        and type(x) is torch.Tensor  # not a subclass or a wrapper (vmap, fake tensors)
        and x.layout == torch.strided
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and x.dim() == 4
        and x.numel() > 0
        and conv.weight.device.type == "cpu"
        and conv.weight.dtype == torch.float32
        and (conv.bias is None or (conv.bias.device.type == "cpu" and conv.bias.dtype == torch.float32))
        and not torch.is_grad_enabled()
        and not torch.is_autocast_enabled("cpu")
        and fast_path_enabled()
        and caching_allowed()
        and _enabled()
        and _library() is not None
    )


class FastConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose 3x3 CPU inference runs through Winograd F(4x4, 3x3) where that pays.

    Everything else (training, other devices and dtypes, the plain path, export) is
    ``nn.Conv2d``'s own forward; parameters and state-dict keys are the same.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if winograd_applies(self, x):
            y = winograd_conv3x3(x, derived_cached(self, "winograd", (self.weight,), lambda: transform_weight(self.weight)), self.bias)
            # nn.Conv2d hands back the input's memory format: channels-last only for channels-last input
            return y if x.is_contiguous(memory_format=torch.channels_last) else y.contiguous()
        return super().forward(x)


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A 3x3, stride-1, padding-1 convolution with bias that may run through Winograd in inference."""
    return FastConv2d(in_channels, out_channels, 3, 1, 1)


__all__ = ["FastConv2d", "MIN_CHANNELS", "MIN_CHANNEL_PRODUCT", "conv3x3", "transform_weight", "winograd_applies", "winograd_conv3x3", "winograd_status", "worthwhile"]
