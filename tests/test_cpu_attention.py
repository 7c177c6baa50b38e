"""swinsr's CPU window-attention kernel (swinsr.layers.cpu_attention) against plain PyTorch math.

float64 runs the same kernel code with exact ``exp``, so forward, backward and the mask (position
bias) gradient must equal the explicit ``softmax(q k^T * scale + mask) v`` to rounding; float32
uses the vectorised ``exp`` and must stay within float rounding. Without a compiler the kernel is
off and every test here except the fallback ones skips.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from swinsr.layers import SwinBlock, cpu_attention
from swinsr.layers.cpu_attention import attend, cpu_kernel, kernel_status, usable

needs_kernel = pytest.mark.skipif(cpu_attention._library() is None, reason=f"CPU kernel unavailable: {kernel_status()}")


def _inputs(w, n, h, d, dtype=torch.float64, mask="shared", seed=0):
    g = torch.Generator().manual_seed(seed)
    qkv = torch.randn(w, n, 3, h, d, dtype=dtype, generator=g)
    masks = {
        "none": None,
        "shared": torch.randn(h, n, n, dtype=dtype, generator=g),
        "per-window": torch.randn(w, h, n, n, dtype=dtype, generator=g),
    }
    return qkv, masks[mask]


def _math(qkv, mask, scale):
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
    logits = scale * q @ k.transpose(-1, -2)
    if mask is not None:
        logits = logits + mask
    return (torch.softmax(logits, -1) @ v).transpose(1, 2).reshape(qkv.shape[0], qkv.shape[1], -1)


def _kernel(qkv, mask, scale):
    """The kernel on the same (W, N, 3, H, D) windows, as one group of a batch-1 grid."""
    masks = None if mask is None else mask[None]
    assert usable(qkv[None], masks, 0.0)
    return attend(qkv[None], masks, [(0, qkv.shape[0], 0)], scale)[0]


@needs_kernel
@pytest.mark.parametrize("shape", [(7, 64, 6, 10), (5, 49, 3, 32), (3, 144, 2, 30), (1, 16, 1, 4), (9, 64, 4, 12)])
@pytest.mark.parametrize("mask", ["none", "shared"])
def test_forward_equals_the_math_in_float64(shape, mask):
    qkv, m = _inputs(*shape, mask=mask)
    scale = shape[-1] ** -0.5
    got = _kernel(qkv, m, scale)
    assert got.shape == (shape[0], shape[1], shape[2] * shape[3]) and got.is_contiguous()
    assert float((got - _math(qkv, m, scale)).abs().max()) < 1e-12


@needs_kernel
def test_large_negative_masks_give_zero_weight_like_the_shift_mask():
    # SwinIR's shift mask is -100: those keys must get (almost exactly) zero weight, never NaN
    qkv, m = _inputs(4, 64, 2, 10, dtype=torch.float32)
    m = m.clone()
    m[..., 32:] = -100.0
    got = _kernel(qkv, m, 10**-0.5)
    assert torch.isfinite(got).all()
    assert float((got - _math(qkv, m, 10**-0.5)).abs().max()) < 1e-5


@needs_kernel
@pytest.mark.parametrize("shape", [(2, 16, 2, 4), (3, 9, 1, 5)])
def test_gradcheck_including_the_mask_gradient(shape):
    qkv, m = _inputs(*shape)
    qkv.requires_grad_()
    m.requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: _kernel(a, b, 0.37), (qkv, m))


@needs_kernel
@pytest.mark.parametrize("tokens", [64, 49])  # 8x8 windows (the float32 8x8-block transposes) and 7x7 (padded queries)
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
def test_backward_equals_the_math(dtype, tol, tokens):
    qkv, m = _inputs(6, tokens, 3, 10, dtype=dtype)
    grad_out = torch.randn(6, tokens, 30, dtype=dtype)
    results = []
    for fn in (_kernel, _math):
        a, b = qkv.clone().requires_grad_(), m.clone().requires_grad_()
        fn(a, b, 10**-0.5).backward(grad_out)
        results.append((a.grad, b.grad))
    for got, want in zip(*results):
        assert float((got - want).abs().max()) <= tol * max(1.0, float(want.abs().max()))


@needs_kernel
def test_thread_split_changes_nothing():
    qkv, m = _inputs(33, 64, 3, 10, dtype=torch.float32)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _kernel(qkv, m, 0.3)
        torch.set_num_threads(max(2, threads))
        many = _kernel(qkv, m, 0.3)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, many)  # each window is computed by one thread, whatever the split


@needs_kernel
@pytest.mark.parametrize("version", [1, 2])
def test_block_training_gradients_match_sdpa(version):
    torch.manual_seed(0)
    blk = SwinBlock(24, 3, window_size=8, shift_size=4, version=version).double().train()
    x = torch.randn(2, 16 * 24, 24, dtype=torch.float64)
    grads = []
    for enabled in (True, False):
        blk.zero_grad()
        with cpu_kernel(enabled):
            blk(x, (16, 24)).square().sum().backward()
        grads.append({n: p.grad.clone() for n, p in blk.named_parameters()})
    bias = "attn.relative_position_bias_table" if version == 1 else "attn.cpb_mlp.0.weight"
    assert grads[0][bias].abs().max() > 0  # the position-bias gradient flows through the kernel
    for name in grads[0]:
        assert float((grads[0][name] - grads[1][name]).abs().max()) < 1e-10, name


def test_not_used_for_dropout_other_dtypes_or_odd_masks():
    qkv, m = _inputs(2, 16, 2, 4, dtype=torch.float32)
    grid, masks = qkv[None], m[None]
    assert usable(grid, masks, 0.0) == (cpu_attention._library() is not None)
    assert not usable(grid, masks, 0.1)  # attention dropout: SDPA
    assert not usable(grid.bfloat16(), masks.bfloat16(), 0.0)
    assert not usable(grid, m, 0.0)  # masks are (groups, H, N, N)
    assert not usable(grid, masks.double(), 0.0)
    with cpu_kernel(False):
        assert not usable(grid, masks, 0.0)


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_window_groups_of_a_batch_each_get_their_mask(dtype):
    # a batch-3 grid of 10 windows in groups 6 / 3 / 0 / 1 (the shifted-window layout): one call,
    # each group's windows with its own mask, outputs and all gradients as four separate attentions
    g = torch.Generator().manual_seed(1)
    qkv = torch.randn(3, 10, 16, 3, 2, 4, dtype=dtype, generator=g)
    masks = torch.randn(4, 2, 16, 16, dtype=dtype, generator=g)
    groups = [(0, 6, 0), (6, 3, 1), (9, 1, 3)]
    grad_out = torch.randn(3, 10, 16, 8, dtype=dtype, generator=g)
    a, ma = qkv.clone().requires_grad_(), masks.clone().requires_grad_()
    got = attend(a, ma, groups, 0.5)
    got.backward(grad_out)
    b, mb = qkv.clone().requires_grad_(), masks.clone().requires_grad_()
    parts = []
    for start, count, gi in groups:
        windows = b[:, start : start + count].reshape(-1, 16, 3, 2, 4)
        parts.append(_math(windows, mb[gi], 0.5).view(3, count, 16, 8))
    want = torch.cat(parts, 1)
    want.backward(grad_out)
    tol = 1e-12 if dtype == torch.float64 else 2e-5
    assert float((got - want).detach().abs().max()) < tol
    assert float((a.grad - b.grad).abs().max()) < tol
    assert float((ma.grad - mb.grad).abs().max()) < tol * 10
    assert float(ma.grad[2].abs().max()) == 0.0  # the empty group's mask gets no gradient


def test_the_switch_routes_attention_to_sdpa(monkeypatch):
    calls = []
    real = cpu_attention.attend
    monkeypatch.setattr(cpu_attention, "attend", lambda *a: calls.append(1) or real(*a))
    blk = SwinBlock(16, 2, window_size=4, shift_size=2).eval()
    x = torch.randn(1, 64, 16)
    with torch.no_grad():
        with cpu_kernel(False):
            off = blk(x, (8, 8))
        assert calls == []
        with cpu_kernel(None):
            on = blk(x, (8, 8))
    assert (len(calls) > 0) == (cpu_attention._library() is not None and cpu_attention.kernel_enabled())
    assert float((on - off).abs().max()) < 1e-5


def test_without_a_compiler_attention_falls_back_with_a_reason(tmp_path):
    # a fresh process: no compiler on PATH, an empty cache -> the kernel is unavailable, models still run
    code = (
        "import torch, swinsr\n"
        "from swinsr.layers import cpu_attention as c\n"
        "m = swinsr.SwinIR(upscale=2, img_size=16, window_size=4, depths=[1], embed_dim=8, num_heads=[2],"
        " upsampler='pixelshuffledirect').eval()\n"
        "with torch.no_grad(): y = m(torch.rand(1, 3, 9, 11))\n"
        "print(tuple(y.shape), c.kernel_status())\n"
    )
    env = dict(os.environ, CXX="/nonexistent/c++", PATH=str(tmp_path), SWINSR_CACHE_DIR=str(tmp_path / "cache"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "(1, 3, 18, 22) unavailable (no C++ compiler found" in result.stdout


def test_environment_switch_turns_it_off(tmp_path):
    code = "from swinsr.layers import cpu_attention as c; print(c.kernel_enabled(), c.kernel_status())"
    env = dict(os.environ, SWINSR_CPU_KERNEL="0")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300).stdout
    assert out.strip() == "False off (SWINSR_CPU_KERNEL=0 or cpu_kernel(False))"


@needs_kernel
def test_compiled_once_into_the_cache(tmp_path):
    code = "from swinsr.layers import cpu_attention as c; c._library(); print(c._state['path'])"
    env = dict(os.environ, SWINSR_CACHE_DIR=str(tmp_path))
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == 0, first.stderr
    path = first.stdout.strip()
    assert path.startswith(str(tmp_path / "kernels")) and os.path.exists(path)
    mtime = os.path.getmtime(path)
    second = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert second.stdout.strip() == path and os.path.getmtime(path) == mtime
    assert sorted(p.name for p in (tmp_path / "kernels").iterdir()) == [os.path.basename(path)]  # no temp left


@needs_kernel
def test_a_build_without_openmp_splits_windows_over_python_threads(tmp_path):
    # where no OpenMP runtime is found (e.g. no /proc), windows go to a Python thread pool instead
    code = (
        "import torch\n"
        "from swinsr.layers import cpu_attention as c\n"
        "c._openmp_runtime = lambda: None\n"
        "torch.set_num_threads(2)\n"
        "g = torch.Generator().manual_seed(0)\n"
        "qkv = torch.randn(1, 40, 64, 3, 4, 8, dtype=torch.float64, generator=g, requires_grad=True)\n"
        "m = torch.randn(1, 4, 64, 64, dtype=torch.float64, generator=g, requires_grad=True)\n"
        "got = c.attend(qkv, m, [(0, 40, 0)], 0.3)\n"
        "got.sum().backward()\n"
        "a, b = qkv.detach().clone().requires_grad_(), m.detach().clone().requires_grad_()\n"
        "q, k, v = c.qkv_views(a)\n"
        "want = (torch.softmax(0.3 * q @ k.transpose(-1, -2) + b[:, None], -1) @ v).transpose(2, 3).reshape(1, 40, 64, 32)\n"
        "want.sum().backward()\n"
        "err = max(float((got - want).abs().max()), float((qkv.grad - a.grad).abs().max()), float((m.grad - b.grad).abs().max()))\n"
        "print(c.kernel_status(), err < 1e-12, c._state['pool_size'])\n"
    )
    env = dict(os.environ, SWINSR_CACHE_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("Python threads) True 2")


def test_kernels_never_load_from_a_folder_other_users_can_write(tmp_path, monkeypatch):
    from swinsr.layers import native

    monkeypatch.setattr(native.tempfile, "gettempdir", lambda: str(tmp_path))
    private = native._private_temp_dir()
    assert private.parent == tmp_path and (private.stat().st_mode & 0o777) == 0o700
    private.chmod(0o777)  # a folder anyone can plant a library in is refused, not used
    with pytest.raises(RuntimeError, match="not a private folder"):
        native._private_temp_dir()
    # an unwritable cache folder falls back to the private one instead of switching kernels off
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if not os.access(locked, os.W_OK):  # (root can write anywhere)
        assert native._writable_dir(locked / "kernels") is None
