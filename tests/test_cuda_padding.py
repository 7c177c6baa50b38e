"""Head-dim padding for the fused CUDA attention kernels, proven on the CPU (and on CUDA when present).

The padded path is forced on the CPU with :func:`swinsr.layers.sdpa.force_head_padding`:
zero-padded q/k/v with the original scale must give the unpadded attention (values and
gradients, including the bias gradient) to float rounding, and whole models must not change.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import swinsr
from swinsr.layers import sdpa
from swinsr.layers.cpu_attention import cpu_kernel
from swinsr.layers.sdpa import force_head_padding, head_dim_multiple, padded_sdpa

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def window_inputs(d: int, heads: int = 3, windows: int = 5, n: int = 64, dtype=torch.float64, groups: int = 1):
    """q, k, v of ``windows`` windows and an additive (groups, heads, N, N) bias with masked (-100) entries."""
    g = torch.Generator().manual_seed(d)
    q, k, v = (torch.randn(windows * groups, heads, n, d, generator=g, dtype=dtype) for _ in range(3))
    bias = torch.randn(1, heads, n, n, generator=g, dtype=dtype)
    mask = torch.where(torch.rand(groups, 1, n, n, generator=g) < 0.3, -100.0, 0.0).to(dtype)
    return q, k, v, (bias + mask).repeat_interleave(windows, 0) if groups > 1 else bias + mask


@pytest.mark.parametrize("d", [10, 30, 6, 16, 32])
@pytest.mark.parametrize("multiple", [4, 8])
def test_padded_attention_equals_unpadded(d, multiple):
    q, k, v, bias = window_inputs(d, groups=2)
    scale = d**-0.5
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=scale)
    got = padded_sdpa(q, k, v, bias, scale=scale, multiple=multiple)
    assert got.shape == q.shape
    assert float((got - expected).abs().max()) < 1e-12  # float64: identical up to rounding


def test_padding_keeps_the_original_scale_not_the_padded_one():
    q, k, v, bias = window_inputs(10)
    explicit = torch.softmax(q @ k.transpose(-2, -1) * 10**-0.5 + bias, -1) @ v
    assert torch.allclose(padded_sdpa(q, k, v, bias, scale=10**-0.5, multiple=8), explicit, atol=1e-12)
    wrong = torch.softmax(q @ k.transpose(-2, -1) * 16**-0.5 + bias, -1) @ v  # SDPA's default after padding
    assert not torch.allclose(padded_sdpa(q, k, v, bias, scale=10**-0.5, multiple=8), wrong, atol=1e-3)


def test_gradients_through_the_padding_match_including_the_bias():
    q, k, v, bias = window_inputs(10)
    grads = []
    for multiple in (1, 8):
        leaves = [t.clone().requires_grad_() for t in (q, k, v, bias)]
        out = padded_sdpa(*leaves[:3], leaves[3], scale=10**-0.5, multiple=multiple)
        (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        grads.append([t.grad for t in leaves])
    for plain, padded in zip(*grads):
        assert float((plain - padded).abs().max()) < 1e-12


def test_multiples_by_device_and_dtype():
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert head_dim_multiple(cpu, torch.float32) == 1  # CPU kernels need no padding
    assert head_dim_multiple(gpu, torch.bfloat16) == 8 and head_dim_multiple(gpu, torch.float16) == 8
    assert head_dim_multiple(gpu, torch.float32) == 4
    with force_head_padding():
        assert head_dim_multiple(cpu, torch.bfloat16) == 8
    with force_head_padding(False):
        assert head_dim_multiple(gpu, torch.bfloat16) == 1
    assert sdpa._forced is None


def _models():
    torch.manual_seed(0)
    common = dict(upscale=2, img_size=32, window_size=8, img_range=1.0, depths=[2], embed_dim=20, num_heads=[2],
                  mlp_ratio=2, upsampler="pixelshuffledirect")
    return {"SwinIR head_dim 10": swinsr.SwinIR(**common).eval(), "Swin2SR head_dim 10": swinsr.Swin2SR(**common).eval()}


@pytest.mark.parametrize("name", ["SwinIR head_dim 10", "Swin2SR head_dim 10"])
def test_whole_models_are_unchanged_by_forced_padding(name, monkeypatch):
    model = _models()[name]
    x = torch.rand(1, 3, 27, 35)  # not a window multiple: shifted windows, border masks
    # the padding belongs to the SDPA call (CUDA's path); swinsr's CPU kernel would bypass it
    with torch.no_grad(), cpu_kernel(False):
        plain = model(x)
        calls = []
        real = F.pad
        monkeypatch.setattr(F, "pad", lambda t, p, *a, **kw: calls.append(p) or real(t, p, *a, **kw))
        with force_head_padding():
            padded = model(x)
    head_pads = [p for p in calls if len(p) == 2]  # (image padding to the window is 4-sided)
    assert len(head_pads) == 3 * (1 + 4)  # q, k, v of every attention call: 1 group unshifted + 4 shifted
    assert all(p == (0, 2) for p in head_pads)  # 10 -> 12 in fp32
    assert float((plain - padded).abs().max()) < 1e-5


def test_bf16_autocast_stays_the_cuda_default():
    from swinsr.inference.precision import resolve_precision

    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        assert resolve_precision("auto", torch.device("cuda")) == "bf16"
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"


# ----------------------------------------------------------------------------- on a GPU
@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_cuda_fused_kernel_engages_only_with_padding(dtype):
    from torch.nn.attention import SDPBackend, sdpa_kernel

    q, k, v, bias = (t.to("cuda", dtype) for t in window_inputs(10, dtype=torch.float32))
    expected = F.scaled_dot_product_attention(*(t.double() for t in (q, k, v)), attn_mask=bias.double(), scale=10**-0.5)
    with sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION]):
        got = padded_sdpa(q, k, v, bias, scale=10**-0.5)  # CUDA default multiple
        unpadded_ok = True
        try:
            F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=10**-0.5)
        except RuntimeError:
            unpadded_ok = False
    tol = 2e-2 if dtype != torch.float32 else 1e-4
    assert float((got.double() - expected).abs().max()) < tol
    if dtype != torch.float32:
        assert not unpadded_ok, "head_dim 10 ran in the efficient kernel unpadded: padding may be unnecessary now"


@pytest.mark.cuda
@cuda
def test_cuda_model_matches_cpu_in_fp32_and_bf16():
    model = _models()["SwinIR head_dim 10"]
    x = torch.rand(1, 3, 40, 48)
    with torch.no_grad():
        ref = model(x)
        gpu = model.cuda()
        fp32 = gpu(x.cuda()).cpu()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            bf16 = gpu(x.cuda()).float().cpu()
    model.cpu()
    assert float((fp32 - ref).abs().max()) < 1e-3  # TF32 matmuls may be on
    assert float((bf16 - ref).abs().max()) < 5e-2
