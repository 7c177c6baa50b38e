"""Linear layers through oneDNN: pre-packed weights (and GELU fused into ``fc1``) for inference, the bias fused for training.

The projections and MLPs of a Swin block are skinny GEMMs (tens of thousands of tokens by
60-540 channels). For those, PyTorch's default CPU ``linear`` (an MKL ``sgemm`` on an unpacked
weight) measured 88 GFLOP/s on a 2-core AVX2 CPU where oneDNN's matmul on a weight reordered
once into its blocked layout reached 115, and with the exact (erf) GELU applied in the GEMM's
epilogue the ``fc1 + GELU`` pair took 37 ms instead of 56 (16,384 x 180 -> 540). The packed
weight is cached per module like the attention masks (invalidated when the weight changes).

Training uses the same oneDNN op on the plain weight (:class:`_TrainingLinear`): ``F.linear``
with a bias is ``addmm``, which first copies the broadcast bias into the whole output and then
accumulates the GEMM onto it, a full extra pass over e.g. the 32,768 x 144 q/k/v projection of a
training batch (8.4 ms there against 5.6 ms with the bias in oneDNN's epilogue, one thread), and
its input gradient ``grad @ weight`` ran 1.2-1.5x faster the same way (11.9 -> 7.9 ms). The
weight gradient stays MKL's ``mm``, which was faster for that shape.

Used only where it cannot change behaviour: float32 on the CPU, fast path on, no autocast, no
tracing / compiling / export, and only when the private ``torch.ops.mkldnn._linear_pointwise``
exists and reproduces ``F.linear`` on a probe; everything else is ``F.linear``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .fastpath import caching_allowed, derived_cached, fast_path_enabled

_available: bool | None = None


def packed_linear_available() -> bool:
    """Whether oneDNN's packed linear exists in this PyTorch and reproduces ``F.linear`` (probed once)."""
    global _available
    if _available is None:
        _available = False
        try:
            if torch.backends.mkldnn.is_available():
                g = torch.Generator().manual_seed(0)
                x, w, b = (torch.randn(s, generator=g) for s in ((37, 24), (40, 24), (40,)))
                with torch.no_grad():
                    packed = torch.ops.mkldnn._reorder_linear_weight(w, 37)
                    got = torch.ops.mkldnn._linear_pointwise(x, packed, b, "gelu", [], "none")
                    plain = torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")  # the training form
                _available = bool(
                    torch.allclose(got, F.gelu(F.linear(x, w, b)), atol=1e-5, rtol=1e-5)
                    and torch.allclose(plain, F.linear(x, w, b), atol=1e-5, rtol=1e-5)
                )
        except (AttributeError, RuntimeError, TypeError):
            _available = False
    return _available


def _onednn_applies(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """float32 CPU operands, fast path on, no autocast (which would run ``F.linear`` in bf16), no graph capture."""
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and weight.dtype == torch.float32
        and x.dim() >= 2
        and not torch.is_autocast_enabled("cpu")
        and fast_path_enabled()
        and caching_allowed()
        and packed_linear_available()
    )


class _TrainingLinear(torch.autograd.Function):
    """``F.linear`` for training: forward and input gradient through oneDNN (bias in the epilogue),
    weight and bias gradients as ``F.linear``'s own backward computes them."""

    @staticmethod
    def forward(ctx, x, weight, bias):  # type: ignore[override]
        x = x.contiguous()
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        grad2 = grad.reshape(-1, grad.shape[-1]).contiguous()
        d_x = d_w = d_b = None
        if ctx.needs_input_grad[0]:
            d_x = torch.ops.mkldnn._linear_pointwise(grad2, weight.t().contiguous(), None, "none", [], "").view(x.shape)
        if ctx.needs_input_grad[1]:
            d_w = grad2.t().mm(x.view(-1, x.shape[-1]))
        if ctx.has_bias and ctx.needs_input_grad[2]:
            d_b = grad2.sum(0)
        return d_x, d_w, d_b


def _packed(owner: nn.Module, name: str, weight: torch.Tensor, rows: int) -> torch.Tensor:
    """``weight`` reordered into oneDNN's blocked layout, cached per projection (see :func:`.fastpath.derived_cached`)."""
    return derived_cached(
        owner, f"packed:{name}", (weight,), lambda: torch.ops.mkldnn._reorder_linear_weight(weight.detach(), max(rows, 1))
    )


def fast_linear(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    owner: nn.Module,
    name: str,
    gelu: bool = False,
) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` (then the exact GELU when ``gelu``), via oneDNN when it applies:
    packed weights without autograd, :class:`_TrainingLinear` with it.

    ``owner`` / ``name`` say where the packed weight is cached (one entry per projection).
    """
    onednn = _onednn_applies(x, weight)
    if onednn and not torch.is_grad_enabled():
        rows = x.numel() // max(x.shape[-1], 1)
        packed = _packed(owner, name, weight, rows)
        return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "gelu" if gelu else "none", [], "none" if gelu else "")
    if onednn and (x.requires_grad or weight.requires_grad):
        y = _TrainingLinear.apply(x, weight, bias)
    else:
        y = F.linear(x, weight, bias)
    return F.gelu(y) if gelu else y


def linear_module(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` through :func:`fast_linear`."""
    return fast_linear(x, layer.weight, layer.bias, layer, "weight")


def is_exact_gelu(act: nn.Module) -> bool:
    """Whether ``act`` is ``nn.GELU()`` with the exact erf formulation (the one oneDNN can fuse)."""
    return type(act) is nn.GELU and act.approximate == "none"
