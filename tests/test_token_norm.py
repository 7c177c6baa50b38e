"""LayerNorm fused with the window gathers and the residual add (``swinsr.layers.token_norm``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

from swinsr.layers import SwinBlock, token_norm
from swinsr.layers.fastpath import lean_inference, plain_path
from swinsr.layers.token_norm import (
    add_gather_layer_norm,
    gather_layer_norm,
    gather_layer_norm_add,
    token_norm_applies,
    token_norm_status,
)
from swinsr.layers.windows import window_gather_indices

needs_kernel = pytest.mark.skipif(token_norm._library() is None, reason=f"token-norm kernel unavailable: {token_norm_status()}")


def _norm(c: int, seed: int = 0) -> nn.LayerNorm:
    torch.manual_seed(seed)
    norm = nn.LayerNorm(c, eps=1e-5 if c % 2 else 1e-6)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    return norm


def _ln64(norm: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    """The norm in float64, rounded to float32: the reference both implementations are held to."""
    w, b = norm.weight.double(), norm.bias.double()
    return torch.nn.functional.layer_norm(x.double(), norm.normalized_shape, w, b, norm.eps).float()


def _close(got: torch.Tensor, want: torch.Tensor, atol: float = 2e-6) -> bool:
    # 2e-6 is ~10x below what torch's own float LayerNorm misses by on these offset rows (2e-5)
    return torch.allclose(got, want, atol=atol, rtol=1e-6)


def _tokens(b: int, t: int, c: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    # an offset and a scale of their own per token, like a residual stream: the variance must not cancel
    return torch.randn(b, t, c, generator=g) * torch.rand(b, t, 1, generator=g) * 5 + torch.randn(b, t, 1, generator=g) * 20


@needs_kernel
@pytest.mark.parametrize("b,t_src,t_dst,c", [(1, 64, 64, 60), (2, 100, 37, 180), (3, 5, 9, 7), (1, 16, 16, 16), (2, 40, 40, 1)])
def test_the_three_forms_equal_layer_norm_index_select_and_add(b, t_src, t_dst, c):
    norm = _norm(c)
    x, y = _tokens(b, t_dst, c, 1), _tokens(b, t_src, c, 2)
    rows = torch.randint(0, t_src, (t_dst,), generator=torch.Generator().manual_seed(3))  # repeats allowed
    with torch.no_grad():
        assert token_norm_applies(x, norm)
        src = _tokens(b, t_src, c, 4)
        assert _close(gather_layer_norm(src, rows, norm), _ln64(norm, src.index_select(1, rows)))
        s, normed = add_gather_layer_norm(x, y, rows, norm)
        expected = x + y.index_select(1, rows)
        assert torch.equal(s, expected)
        assert _close(normed, _ln64(norm, expected))
        s, none = add_gather_layer_norm(x, y, rows, None)
        assert none is None and torch.equal(s, expected)
        got = gather_layer_norm_add(x, y, rows, norm)
        assert _close(got, x + _ln64(norm, y.index_select(1, rows)), atol=1e-5)  # x up to ~60: its ulp


@needs_kernel
def test_identity_rows_and_writing_into_the_input():
    norm = _norm(48)
    x, y = _tokens(2, 30, 48, 5), _tokens(2, 30, 48, 6)
    with torch.no_grad():
        assert _close(gather_layer_norm(x, None, norm), _ln64(norm, x))
        expected = x + _ln64(norm, y)
        target = x.clone()
        out = gather_layer_norm_add(target, y, None, norm, out=target)
        assert out is target and _close(target, expected, atol=1e-5)
        target = x.clone()
        s, _ = add_gather_layer_norm(target, y, None, None, out=target)
        assert s is target and torch.equal(target, x + y)


@needs_kernel
def test_rows_outside_the_source_are_refused_before_the_kernel_reads_them():
    norm = _norm(8)
    x = torch.randn(1, 10, 8)
    with torch.no_grad():
        for bad in (torch.tensor([0, 10]), torch.tensor([-1, 3])):
            with pytest.raises(IndexError, match="10 source tokens"):
                gather_layer_norm(x, bad, norm)
            with pytest.raises(IndexError, match="10 source tokens"):
                add_gather_layer_norm(x[:, :2], x, bad, norm)
        with pytest.raises(ValueError, match="int64"):
            gather_layer_norm(x, torch.tensor([0, 1], dtype=torch.int32), norm)


@needs_kernel
def test_applies_only_to_float32_cpu_inference_with_plain_layer_norms():
    norm, x = _norm(16), torch.randn(1, 8, 16)
    with torch.no_grad():
        assert token_norm_applies(x, norm)
        assert not token_norm_applies(x.double(), norm)
        assert not token_norm_applies(x[:, ::2], norm)  # not contiguous
        assert not token_norm_applies(x, _norm(8))  # channels differ
        assert not token_norm_applies(x, nn.LayerNorm(16, elementwise_affine=False))
        assert not token_norm_applies(x, nn.GroupNorm(1, 16))
        with plain_path():
            assert not token_norm_applies(x, norm)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert not token_norm_applies(x, norm)
    assert not token_norm_applies(x, norm)  # autograd on


def _block(version: int, shift: int, dim: int = 24, seed: int = 0) -> SwinBlock:
    torch.manual_seed(seed)
    block = SwinBlock(dim, 3, 4, shift_size=shift, mlp_ratio=2.0, version=version).eval()
    with torch.no_grad():
        for norm in (block.norm1, block.norm2):
            norm.weight.normal_(1, 0.3)
            norm.bias.normal_(0, 0.3)
    return block


@needs_kernel
@pytest.mark.parametrize("version,shift", [(1, 0), (1, 2), (2, 0), (2, 2)])
def test_a_block_takes_the_fused_form_and_gives_the_plain_result(version, shift, monkeypatch):
    block = _block(version, shift)
    x, size = _tokens(2, 8 * 12, 24, 7) / 10, (8, 12)
    calls = []
    for name in ("gather_layer_norm", "add_gather_layer_norm", "gather_layer_norm_add"):
        real = getattr(token_norm, name)
        monkeypatch.setattr(f"swinsr.layers.block.{name}", lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    with torch.no_grad():
        fused = block(x, size)
        assert calls, "the fused form was not taken"
        with plain_path():
            plain = block(x, size)
        calls.clear()
        with lean_inference(min_tokens=0, chunk_tokens=32):  # the chunked form uses it too (on contiguous chunks)
            lean = torch.cat([block(x[i : i + 1], size) for i in range(2)])
        assert calls
    assert torch.allclose(fused, plain, atol=1e-4, rtol=1e-5), float((fused - plain).abs().max())
    assert torch.allclose(lean, plain, atol=1e-4, rtol=1e-5), float((lean - plain).abs().max())


@needs_kernel
def test_training_mode_padded_maps_and_autograd_keep_the_unfused_form(monkeypatch):
    block = _block(1, 2)
    monkeypatch.setattr("swinsr.layers.block.gather_layer_norm", lambda *a, **k: pytest.fail("fused form taken"))
    x = torch.randn(1, 6 * 8, 24)
    with torch.no_grad():
        block(x, (6, 8))  # 6 is not a multiple of the window: padded after norm1
        block.train()
        block(torch.randn(1, 64, 24), (8, 8))
    block.eval()
    block(torch.randn(1, 64, 24, requires_grad=True), (8, 8)).sum().backward()


def test_without_the_kernel_blocks_stay_on_pytorch_ops():
    code = (
        "import torch\n"
        "from swinsr.layers import SwinBlock, token_norm as t\n"
        "b = SwinBlock(16, 2, 4, shift_size=2).eval()\n"
        "x = torch.randn(1, 64, 16)\n"
        "with torch.no_grad(): ok = torch.isfinite(b(x, (8, 8))).all().item()\n"
        "print(ok, t.token_norm_status())\n"
    )
    env = dict(os.environ, SWINSR_CPU_KERNEL="0")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True off (SWINSR_CPU_KERNEL=0 or cpu_kernel(False))"
