"""Linears through oneDNN (swinsr.layers.linear): packed inference GEMMs and the training linear, against F.linear."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from swinsr.layers import Mlp, plain_path
from swinsr.layers import linear as packed
from swinsr.layers.fastpath import cached_value

needs_packed = pytest.mark.skipif(not packed.packed_linear_available(), reason="oneDNN packed linear unavailable")


@needs_packed
@pytest.mark.parametrize("gelu", [False, True])
@pytest.mark.parametrize("shape", [(7, 60), (3, 17, 60), (2, 5, 64, 60)])
def test_equals_f_linear(gelu, shape):
    torch.manual_seed(0)
    layer = nn.Linear(60, 180)
    x = torch.randn(*shape)
    with torch.no_grad():
        got = packed.fast_linear(x, layer.weight, layer.bias, layer, "weight", gelu=gelu)
        want = F.linear(x, layer.weight, layer.bias)
        want = F.gelu(want) if gelu else want
    assert got.shape == want.shape
    assert float((got - want).abs().max()) < 1e-5
    assert cached_value(layer, "packed:weight") is not None  # the packed path really ran


@needs_packed
def test_non_contiguous_inputs_and_other_row_counts_reuse_the_packing():
    torch.manual_seed(0)
    layer = nn.Linear(24, 40)
    x = torch.randn(64, 8, 24).transpose(0, 1)  # a strided view, as window gathers give
    with torch.no_grad():
        a = packed.linear_module(layer, x)
        packed_once = cached_value(layer, "packed:weight")
        b = packed.linear_module(layer, torch.randn(3, 24))
        assert cached_value(layer, "packed:weight") is packed_once
    assert float((a - F.linear(x, layer.weight, layer.bias)).detach().abs().max()) < 1e-5
    assert b.shape == (3, 40)


@needs_packed
def test_weight_updates_invalidate_the_packed_copy():
    torch.manual_seed(0)
    layer = nn.Linear(16, 16)
    x = torch.randn(5, 16)
    with torch.no_grad():
        before = packed.linear_module(layer, x)
        layer.weight.mul_(2.0)  # an optimizer step / load_state_dict: in place
        after = packed.linear_module(layer, x)
    assert float((after - F.linear(x, layer.weight, layer.bias)).abs().max()) < 1e-5
    assert not torch.allclose(before, after)


@needs_packed
def test_inference_mode_weights_work_without_a_cache():
    with torch.inference_mode():  # parameters made here have no version counter to key a cache on
        layer = nn.Linear(16, 24)
        x = torch.randn(5, 16)
        got = packed.linear_module(layer, x)
        assert float((got - F.linear(x, layer.weight, layer.bias)).abs().max()) < 1e-5
    assert cached_value(layer, "packed:weight") is None


def test_autograd_float64_and_the_plain_path_use_f_linear():
    layer = nn.Linear(8, 8)
    x = torch.randn(4, 8, requires_grad=True)
    packed.linear_module(layer, x).sum().backward()  # grad mode: differentiable, never packed
    assert x.grad is not None and cached_value(layer, "packed:weight") is None
    with torch.no_grad():
        packed.linear_module(layer.double(), x.detach().double())
        with plain_path():
            packed.linear_module(layer.float(), x.detach())
    assert cached_value(layer, "packed:weight") is None


def _grads(fn, x, layer, grad):
    x = x.detach().clone().requires_grad_()
    layer.zero_grad(set_to_none=True)
    y = fn(x)
    y.backward(grad)
    return y.detach(), x.grad, layer.weight.grad, None if layer.bias is None else layer.bias.grad, y.grad_fn


@needs_packed
@pytest.mark.parametrize("bias", [True, False])
def test_training_linear_gives_f_linears_values_and_gradients(bias):
    torch.manual_seed(0)
    layer = nn.Linear(48, 144, bias=bias)
    x = torch.randn(64, 8, 48).transpose(0, 1)  # strided, as window gathers give
    grad = torch.randn(8, 64, 144)
    *got, fn_got = _grads(lambda t: packed.linear_module(layer, t), x, layer, grad)
    *want, _ = _grads(lambda t: F.linear(t, layer.weight, layer.bias), x, layer, grad)
    assert type(fn_got).__name__ == "_TrainingLinearBackward"  # the oneDNN training path really ran
    for a, b in zip(got, want):
        if b is None:
            assert a is None
            continue
        assert a.shape == b.shape
        assert float((a - b).abs().max()) <= 1e-5 * max(1.0, float(b.abs().max()))
    assert cached_value(layer, "packed:weight") is None  # training never packs (the weight changes every step)


@needs_packed
def test_training_linear_only_where_it_cannot_change_behaviour():
    layer = nn.Linear(8, 8)
    x = torch.randn(4, 8, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast runs F.linear in bf16: leave it to F.linear
        assert packed.linear_module(layer, x).dtype == torch.bfloat16
    with plain_path():
        assert type(packed.linear_module(layer, x).grad_fn).__name__ == "AddmmBackward0"
    frozen = nn.Linear(8, 8).requires_grad_(False)
    assert packed.linear_module(frozen, torch.randn(4, 8)).grad_fn is None  # nothing to differentiate
    y = packed.linear_module(layer.double(), x.detach().double().requires_grad_())
    assert type(y.grad_fn).__name__ == "AddmmBackward0"


def test_mlp_fuses_only_the_exact_gelu():
    torch.manual_seed(0)
    exact, tanh = Mlp(12, 24).eval(), Mlp(12, 24, act_layer=lambda: nn.GELU(approximate="tanh")).eval()
    x = torch.randn(3, 12)
    assert packed.is_exact_gelu(exact.act) and not packed.is_exact_gelu(tanh.act)
    with torch.no_grad():
        for mlp in (exact, tanh):
            want = mlp.fc2(mlp.act(mlp.fc1(x)))
            assert float((mlp(x) - want).abs().max()) < 1e-5
