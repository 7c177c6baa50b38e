"""Memory-lean inference: Swin blocks on large maps run chunk by chunk with the same values."""

from __future__ import annotations

import pytest
import torch

import swinsr
from swinsr.layers import SwinBlock
from swinsr.layers.fastpath import lean_inference, lean_settings, plain_path


def _tiny(arch: str, **kw) -> torch.nn.Module:
    base = dict(upscale=2, img_size=16, window_size=4, depths=[2, 2], embed_dim=16, num_heads=[2, 4], mlp_ratio=2,
                upsampler="pixelshuffledirect")
    base.update(kw)
    return swinsr.build_model(arch, **base).eval()


def _count_lean(monkeypatch) -> list[int]:
    calls = [0]
    original = SwinBlock._forward_lean

    def counted(self, *args, **kwargs):
        calls[0] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SwinBlock, "_forward_lean", counted)
    return calls


@pytest.mark.parametrize("arch", ["swinir", "swin2sr"])
@pytest.mark.parametrize("chunk", [16, 40, 10**6])  # one window, a chunk across groups' ends, everything at once
def test_lean_model_equals_one_call_path_in_float64(arch, chunk, monkeypatch):
    calls = _count_lean(monkeypatch)
    model = _tiny(arch).double()
    x = torch.rand(2, 3, 24, 20, dtype=torch.float64)  # 24 x 20: shifted groups of every kind
    with torch.no_grad():
        whole = model(x)
        assert calls[0] == 0  # 480 tokens < the default threshold
        with lean_inference(min_tokens=0, chunk_tokens=chunk):
            lean = model(x)
    assert calls[0] == 4
    assert (lean - whole).abs().max().item() < 1e-12
    with plain_path():
        with torch.no_grad():
            plain = model(x)
    assert (lean - plain).abs().max().item() < 1e-12


def test_stage_updates_only_its_own_intermediates_in_place():
    model = _tiny("swinir").double()
    stage = model.layers[0].residual_group
    x = torch.randn(1, 64, 16, dtype=torch.float64)
    before = x.clone()
    with torch.no_grad():
        whole, _ = stage(x, (8, 8))
        with lean_inference(min_tokens=0, chunk_tokens=16):
            lean, _ = stage(x, (8, 8))
    assert torch.equal(x, before)  # the stage's input is the group's residual: never written
    assert (lean - whole).abs().max().item() < 1e-12


def test_lean_block_does_not_write_into_its_input():
    block = SwinBlock(16, 2, window_size=4, shift_size=2, mlp_ratio=2).eval()
    x = torch.randn(1, 64, 16)
    before = x.clone()
    with torch.no_grad(), lean_inference(min_tokens=0, chunk_tokens=16):
        y = block(x, (8, 8))
    assert torch.equal(x, before)
    with torch.no_grad():
        assert torch.allclose(y, block(x, (8, 8)), atol=1e-6)


def test_lean_path_is_skipped_with_gradients_padding_or_plain_path(monkeypatch):
    calls = _count_lean(monkeypatch)
    model = _tiny("swinir")
    with lean_inference(min_tokens=0):
        model(torch.rand(1, 3, 16, 16)).sum().backward()  # training needs the autograd graph
        with torch.no_grad():
            block = model.layers[0].residual_group.blocks[1]
            block(torch.rand(1, 6 * 6, 16), (6, 6))  # not a window multiple: padded one-call path
            with plain_path():
                model(torch.rand(1, 3, 16, 16))
    assert calls[0] == 0


def test_lean_inference_restores_settings_and_rejects_bad_chunks():
    before = lean_settings()
    with lean_inference(min_tokens=0, chunk_tokens=64):
        assert lean_settings() == (0, 64)
    assert lean_settings() == before
    with pytest.raises(ValueError, match="chunk_tokens"):
        with lean_inference(chunk_tokens=0):
            pass


def test_lean_autocast_keeps_fp32_stream():
    model = _tiny("swinir")
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad(), lean_inference(min_tokens=0, chunk_tokens=32), torch.autocast("cpu", dtype=torch.bfloat16):
        lean = model(x)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        whole = model(x)
    assert torch.isfinite(lean).all()
    assert (lean.float() - whole.float()).abs().max().item() < 2e-2
