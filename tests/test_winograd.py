"""Winograd F(4x4, 3x3) convolutions of the CPU fast path: accuracy, dispatch, caching, fallback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from swinsr import SwinIR
from swinsr.layers import winograd
from swinsr.layers.fastpath import plain_path
from swinsr.layers.winograd import FastConv2d, conv3x3, transform_weight, winograd_conv3x3, winograd_status

needs_kernel = pytest.mark.skipif(winograd._library() is None, reason=f"Winograd kernel unavailable: {winograd_status()}")


def _conv(c: int, o: int, seed: int = 0) -> FastConv2d:
    torch.manual_seed(seed)
    conv = conv3x3(c, o).eval()
    with torch.no_grad():
        conv.weight.normal_(0, (1 / (9 * c)) ** 0.5)  # unit-scale outputs for unit-scale inputs
        conv.bias.normal_()
    return conv


@needs_kernel
@pytest.mark.parametrize("n,c,o,h,w,channels_last,bias", [
    (1, 96, 96, 16, 16, True, True),
    (3, 100, 70, 13, 10, False, True),   # batch, edges not a tile multiple, NCHW input
    (2, 64, 160, 5, 23, True, False),    # no bias, a partial second tile row
    (1, 96, 96, 3, 9, True, True),       # a single tile row
    (1, 128, 96, 1, 1, True, True),      # one pixel: all of the tile but one is padding
])
def test_matches_a_direct_convolution(n, c, o, h, w, channels_last, bias):
    conv = _conv(c, o)
    x = torch.randn(n, c, h, w)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    b = conv.bias if bias else None
    with torch.no_grad():
        want = F.conv2d(x.double(), conv.weight.double(), None if b is None else b.double(), padding=1)
        got = winograd_conv3x3(x, transform_weight(conv.weight), b)
    assert got.shape == want.shape and got.is_contiguous(memory_format=torch.channels_last)
    # F(4x4, 3x3)'s rounding is several times a direct convolution's, far below 1e-4 at unit scale
    assert float((got.double() - want).abs().max()) < 2e-4
    assert float((got.double() - want).abs().mean()) < 2e-5


@needs_kernel
def test_rounds_of_tiles_cover_the_whole_image(monkeypatch):
    # 7 x 9 tiles in rounds of 5: the last round is partial and must land where it belongs
    monkeypatch.setattr(winograd, "TILES_PER_ROUND", 5)
    conv = _conv(64, 150)
    x = torch.randn(1, 64, 27, 35)
    with torch.no_grad():
        want = F.conv2d(x.double(), conv.weight.double(), conv.bias.double(), padding=1)
        got = winograd_conv3x3(x, transform_weight(conv.weight), conv.bias)
    assert float((got.double() - want).abs().max()) < 2e-4


@needs_kernel
def test_rounds_cross_images_of_a_batch(monkeypatch):
    # 3 images of 4 x 5 tiles in rounds of 7: rounds start and end inside images
    monkeypatch.setattr(winograd, "TILES_PER_ROUND", 7)
    conv = _conv(96, 64)
    x = torch.randn(3, 96, 14, 19).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        want = F.conv2d(x.double(), conv.weight.double(), conv.bias.double(), padding=1)
        got = winograd_conv3x3(x, transform_weight(conv.weight), conv.bias)
    assert float((got.double() - want).abs().max()) < 2e-4


def _counting(monkeypatch) -> list[tuple]:
    calls: list[tuple] = []
    real = winograd.winograd_conv3x3

    def spy(x, u, bias):
        calls.append(tuple(x.shape))
        return real(x, u, bias)

    monkeypatch.setattr(winograd, "winograd_conv3x3", spy)
    return calls


@needs_kernel
def test_used_only_in_fast_float32_cpu_inference_of_wide_layers(monkeypatch):
    calls = _counting(monkeypatch)
    conv = _conv(96, 96)
    x = torch.randn(1, 96, 12, 12)
    direct = F.conv2d(x, conv.weight, conv.bias, padding=1).detach()
    with torch.no_grad():
        fast = conv(x)
    assert len(calls) == 1 and float((fast - direct).abs().max()) < 2e-4
    # everything else is nn.Conv2d's own forward, bit for bit
    assert torch.equal(conv(x), direct)  # autograd on: training
    with torch.no_grad(), plain_path():
        assert torch.equal(conv(x), direct)
    with torch.no_grad():
        assert torch.equal(conv.double()(x.double()), F.conv2d(x.double(), conv.weight, conv.bias, padding=1))
        conv.float()
        thin = _conv(48, 48)
        y = torch.randn(1, 48, 12, 12)
        assert torch.equal(thin(y), F.conv2d(y, thin.weight, thin.bias, padding=1))
        strided = FastConv2d(96, 96, 3, 2, 1).eval()
        assert torch.equal(strided(x), F.conv2d(x, strided.weight, strided.bias, stride=2, padding=1))
    assert len(calls) == 1


@needs_kernel
def test_the_transformed_weight_follows_weight_changes():
    conv = _conv(96, 96)
    x = torch.randn(1, 96, 8, 8)
    with torch.no_grad():
        first = conv(x)
        conv.weight.mul_(-1)  # in place: same storage, new version
        second = conv(x)
        conv.weight = nn.Parameter(conv.weight * 0.5)  # a new tensor
        third = conv(x)
    bias = conv.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(second - bias, -(first - bias), atol=2e-4, rtol=0)
    torch.testing.assert_close(third, F.conv2d(x, conv.weight, conv.bias, padding=1), atol=2e-4, rtol=0)


@needs_kernel
def test_load_state_dict_and_inference_mode_weights():
    conv, other = _conv(96, 96), _conv(96, 96, seed=1)
    x = torch.randn(1, 96, 8, 8)
    with torch.no_grad():
        conv(x)  # caches the transformed weight
        conv.load_state_dict(other.state_dict())
        torch.testing.assert_close(conv(x), F.conv2d(x, other.weight, other.bias, padding=1), atol=2e-4, rtol=0)
    with torch.inference_mode():  # parameters made here are inference tensors: no version counter
        fresh = _conv(96, 96, seed=2)
        want = F.conv2d(x, fresh.weight, fresh.bias, padding=1)
        torch.testing.assert_close(fresh(x), want, atol=2e-4, rtol=0)
        torch.testing.assert_close(fresh(x), want, atol=2e-4, rtol=0)


@needs_kernel
def test_behaves_as_nn_conv2d_at_the_edges(monkeypatch):
    calls = _counting(monkeypatch)
    conv = _conv(96, 96)
    with torch.no_grad():
        empty = conv(torch.zeros(0, 96, 8, 8))  # an empty batch: nn.Conv2d's own result
        assert empty.shape == (0, 96, 8, 8) and not calls
        y = conv(torch.randn(1, 96, 8, 8))  # NCHW in, NCHW-contiguous out (as nn.Conv2d)
        assert len(calls) == 1 and y.is_contiguous()
        y.view(1, 96, -1)
        y = conv(torch.randn(1, 96, 8, 8).contiguous(memory_format=torch.channels_last))
        assert len(calls) == 2 and y.is_contiguous(memory_format=torch.channels_last)


@needs_kernel
def test_flop_counting_sees_the_convolution(monkeypatch):
    from torch.utils.flop_counter import FlopCounterMode

    calls = _counting(monkeypatch)
    conv = _conv(96, 64)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        conv(torch.randn(1, 96, 8, 8))
    # a dispatch mode must see the standard op, not 36 bmm standing in for it
    assert not calls and counter.get_total_flops() == 2 * 96 * 64 * 9 * 8 * 8


def test_same_parameters_and_state_dict_as_nn_conv2d():
    plain = nn.Conv2d(96, 64, 3, 1, 1)
    fast = conv3x3(96, 64)
    assert isinstance(fast, nn.Conv2d) and list(fast.state_dict()) == list(plain.state_dict())
    fast.load_state_dict(plain.state_dict())
    assert torch.equal(fast.weight, plain.weight)


@needs_kernel
def test_a_wide_swinir_uses_it_and_stays_within_1e4_of_the_plain_path(monkeypatch):
    calls = _counting(monkeypatch)
    torch.manual_seed(0)
    model = SwinIR(upscale=2, img_size=16, window_size=4, depths=[2, 2], embed_dim=96, num_heads=[2, 2],
                   upsampler="pixelshuffle").eval()
    x = torch.rand(1, 3, 17, 22)
    with torch.no_grad():
        fast = model(x)
        with plain_path():
            plain = model(x)
    # the two group convs and the body's conv (96 -> 64 before the upsampler is too thin to pay)
    assert len(calls) == 3
    assert float((fast - plain).abs().max()) < 1e-4


def test_without_a_compiler_convolutions_stay_direct(tmp_path):
    code = (
        "import torch\n"
        "from swinsr.layers import winograd as w\n"
        "conv = w.conv3x3(96, 96).eval()\n"
        "x = torch.randn(1, 96, 9, 9)\n"
        "with torch.no_grad(): same = torch.equal(conv(x), torch.nn.functional.conv2d(x, conv.weight, conv.bias, padding=1))\n"
        "print(same, w.winograd_status())\n"
    )
    env = dict(os.environ, CXX="/nonexistent/c++", PATH=str(tmp_path), SWINSR_CACHE_DIR=str(tmp_path / "cache"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("True unavailable (no C++ compiler found")
    for switch in ("SWINSR_CPU_KERNEL", "SWINSR_WINOGRAD"):
        env = dict(os.environ, **{switch: "0"})
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
        assert result.stdout.strip() == "True off (SWINSR_WINOGRAD=0, SWINSR_CPU_KERNEL=0 or cpu_kernel(False))"
