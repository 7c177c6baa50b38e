"""LayerNorm fused with the window gathers and the residual add of a Swin block (``kernels/token_norm.cpp``).

Around its attention a pre-norm block makes five passes over the ``(tokens, C)`` map that move
data and do little arithmetic: ``norm1``, the gather into window order, the gather back, the
residual add and ``norm2``. Measured on two AVX2 cores (AMD EPYC Zen 4, ``ATEN_CPU_CAPABILITY=avx2``),
16,384 tokens: 6.2 ms per block at SwinIR-M's 180 channels (7% of its forward; 36 blocks), 1.8 ms
at SwinIR-S's 60 channels, where PyTorch's LayerNorm alone costs 8x an add of the same size. The
kernel reads each token row once and writes each output row once (see the source for the three
forms).

Inference only, like the other kernels of the fast path: float32 CPU tensors, no autograd, no
autocast, no tracing / compiling / export, ``SWINSR_CPU_KERNEL`` not 0, a compiler with OpenMP
(built on first use by :mod:`.native`). The norm is PyTorch's LayerNorm arithmetic in float, so
results agree with ``nn.LayerNorm`` + ``index_select`` + ``add`` to float rounding (tested).
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path

import torch
import torch.nn as nn

from . import native
from .cpu_attention import kernel_enabled
from .fastpath import caching_allowed, fast_path_enabled

_SOURCE = Path(__file__).with_name("kernels") / "token_norm.cpp"
_lock = threading.Lock()
_state: dict = {"lib": None, "tried": False, "error": None, "path": None}


def _declare(lib: ctypes.CDLL) -> None:
    p, i, d = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double
    lib.swinsr_gather_ln_f32.argtypes = [p, p, i, i, i, i, p, p, d, p]
    lib.swinsr_add_gather_ln_f32.argtypes = [p, p, p, i, i, i, i, p, p, d, p, p]
    lib.swinsr_gather_ln_add_f32.argtypes = [p, p, p, i, i, i, i, p, p, d, p]
    for name in ("swinsr_gather_ln_f32", "swinsr_add_gather_ln_f32", "swinsr_gather_ln_add_f32"):
        getattr(lib, name).restype = None
    lib.swinsr_token_norm_openmp.restype = ctypes.c_int
    if not lib.swinsr_token_norm_openmp():
        # one core against PyTorch's multi-threaded ops would be a slowdown
        raise RuntimeError("built without OpenMP")


def _library() -> ctypes.CDLL | None:
    return native.load_once(_state, _lock, _SOURCE, _declare, native.openmp_runtime, "LayerNorm and gathers stay PyTorch ops")


def _plain_layer_norm(norm: nn.Module) -> bool:
    return (
        type(norm) is nn.LayerNorm
        and len(norm.normalized_shape) == 1
        and norm.weight is not None
        and norm.bias is not None
        and norm.weight.dtype == torch.float32
        and norm.bias.dtype == torch.float32
        and norm.weight.device.type == "cpu"
    )


def token_norm_applies(x: torch.Tensor, *norms: nn.Module) -> bool:
    """Whether the fused forms may run on ``x`` (``(B, T, C)`` tokens) with these ``nn.LayerNorm`` s."""
    return (
        type(x) is torch.Tensor
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and x.dim() == 3
        and x.is_contiguous()
        and not torch.is_grad_enabled()
        and not torch.is_autocast_enabled("cpu")
        and fast_path_enabled()
        and caching_allowed()
        and kernel_enabled()
        and all(_plain_layer_norm(n) and n.normalized_shape[0] == x.shape[-1] for n in norms)
        and _library() is not None
    )


def token_norm_status() -> str:
    """One line for benchmarks: whether the fused LayerNorm / gather kernel is used, and if not, why."""
    if not kernel_enabled():
        return "off (SWINSR_CPU_KERNEL=0 or cpu_kernel(False))"
    if _library() is None:
        return f"unavailable ({_state['error']})"
    return "on"


def _rows(rows: torch.Tensor | None, limit: int) -> torch.Tensor | None:
    if rows is None:
        return None
    if rows.dtype != torch.int64 or rows.device.type != "cpu" or rows.dim() != 1:
        raise ValueError("rows must be a 1-D int64 CPU tensor")
    if rows.numel() and not (0 <= int(rows.min()) and int(rows.max()) < limit):
        raise IndexError(f"rows must index the {limit} source tokens")  # the kernel does not check
    return rows.contiguous()


def _contiguous(t: torch.Tensor) -> torch.Tensor:
    return t if t.is_contiguous() else t.contiguous()


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def gather_layer_norm(x: torch.Tensor, rows: torch.Tensor | None, norm: nn.LayerNorm) -> torch.Tensor:
    """``norm(x.index_select(1, rows))`` (``norm(x)`` for ``rows=None``) in one pass; check :func:`token_norm_applies`."""
    b, t_src, c = x.shape
    rows = _rows(rows, t_src)
    t_dst = t_src if rows is None else rows.numel()
    out = torch.empty((b, t_dst, c), dtype=x.dtype, device=x.device)
    w, bias = norm.weight.detach(), norm.bias.detach()
    _library().swinsr_gather_ln_f32(x.data_ptr(), _ptr(rows), b, t_src, t_dst, c, w.data_ptr(), bias.data_ptr(), float(norm.eps), out.data_ptr())
    return out


def add_gather_layer_norm(
    x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor | None, norm: nn.LayerNorm | None, out: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``s = x + y.index_select(1, rows)`` and ``norm(s)`` (``None`` without ``norm``) in one pass.

    ``out`` receives ``s`` (it may be ``x`` itself, for a caller that holds no other reference to it).
    """
    b, t_dst, c = x.shape
    y = _contiguous(y)
    t_src = y.shape[1]
    rows = _rows(rows, t_src)
    s = torch.empty_like(x) if out is None else out
    normed = None if norm is None else torch.empty_like(x)
    w = None if norm is None else norm.weight.detach()
    bias = None if norm is None else norm.bias.detach()
    eps = 0.0 if norm is None else float(norm.eps)
    _library().swinsr_add_gather_ln_f32(
        x.data_ptr(), y.data_ptr(), _ptr(rows), b, t_src, t_dst, c, _ptr(w), _ptr(bias), eps, s.data_ptr(), _ptr(normed)
    )
    return s, normed


def gather_layer_norm_add(
    x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor | None, norm: nn.LayerNorm, out: torch.Tensor | None = None
) -> torch.Tensor:
    """``x + norm(y.index_select(1, rows))`` in one pass (the post-norm residual of Swin V2 blocks)."""
    b, t_dst, c = x.shape
    y = _contiguous(y)
    t_src = y.shape[1]
    rows = _rows(rows, t_src)
    s = torch.empty_like(x) if out is None else out
    w, bias = norm.weight.detach(), norm.bias.detach()
    _library().swinsr_gather_ln_add_f32(
        x.data_ptr(), y.data_ptr(), _ptr(rows), b, t_src, t_dst, c, w.data_ptr(), bias.data_ptr(), float(norm.eps), s.data_ptr()
    )
    return s


__all__ = ["add_gather_layer_norm", "gather_layer_norm", "gather_layer_norm_add", "token_norm_applies", "token_norm_status"]
