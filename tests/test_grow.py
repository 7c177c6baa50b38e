"""Growing a trained SwinIR / Swin2SR deeper keeps its function and trains the new layers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from swinsr.archs.swinir import Swin2SR, SwinIR
from swinsr import grow_depth
from swinsr.checkpoint import load_model, save_checkpoint

REPO = Path(__file__).resolve().parents[1]
_TINY = dict(img_size=16, window_size=4, embed_dim=8, depths=[2, 2], num_heads=[2, 2], mlp_ratio=2)


def _trained_like(cls: type, **kwargs) -> torch.nn.Module:
    """A network whose every weight is non-zero and far from its init, as after training."""
    torch.manual_seed(0)
    model = cls(**{**_TINY, **kwargs}).double()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    return model.eval()


_VARIANTS = [
    (SwinIR, dict(upscale=2, upsampler="pixelshuffledirect")),
    (SwinIR, dict(upscale=1, upsampler="", resi_connection="3conv")),
    (Swin2SR, dict(upscale=2, upsampler="pixelshuffle")),
]


@pytest.mark.parametrize("cls,kwargs", _VARIANTS)
def test_grown_network_computes_the_same_function(cls, kwargs):
    small = _trained_like(cls, **kwargs)
    grown = grow_depth(small, [4, 2, 2]).eval()
    assert grown.config["depths"] == [4, 2, 2] and grown.config["num_heads"] == [2, 2, 2]
    assert sum(p.numel() for p in grown.parameters()) > sum(p.numel() for p in small.parameters())
    x = torch.rand(1, 3, 13, 18, dtype=torch.float64)  # not a window multiple: padding too
    with torch.no_grad():
        torch.testing.assert_close(grown(x), small(x), rtol=0, atol=1e-12)
    # the small network is left as it was
    assert small.config["depths"] == [2, 2] and len(small.layers) == 2


@pytest.mark.parametrize("cls,kwargs", _VARIANTS)
def test_added_layers_get_gradients_from_the_first_step(cls, kwargs):
    small = _trained_like(cls, **kwargs)
    grown = grow_depth(small, [4, 2, 2]).train()
    grown(torch.rand(2, 3, 16, 16, dtype=torch.float64)).square().mean().backward()
    old = {name for name, _ in small.named_parameters()}
    # (biases start at zero anyway: count the weights) per new block its two branch ends, and the
    # new group's last layer
    zero = [(n, p) for n, p in grown.named_parameters()
            if n not in old and n.endswith("weight") and not p.detach().abs().max()]
    assert len(zero) == 2 * 2 + 1, [n for n, _ in zero]
    for name, p in zero:  # they start at zero, so the function is the old one, and learn at once
        assert p.grad is not None and p.grad.abs().max() > 0, name
    # and every other new parameter gets a gradient once the zeroed ones move
    opt = torch.optim.SGD(grown.parameters(), lr=0.1)
    opt.step()
    opt.zero_grad()
    grown(torch.rand(2, 3, 16, 16, dtype=torch.float64)).square().mean().backward()
    dead = [n for n, p in grown.named_parameters() if n not in old and (p.grad is None or not p.grad.abs().max())]
    assert not dead


def test_grow_refuses_to_drop_layers_or_mismatched_heads():
    small = _trained_like(SwinIR, upscale=1, upsampler="")
    with pytest.raises(ValueError, match="keeps every group and block"):
        grow_depth(small, [2])
    with pytest.raises(ValueError, match="keeps every group and block"):
        grow_depth(small, [1, 4])
    with pytest.raises(ValueError, match="num_heads"):
        grow_depth(small, [2, 2, 2], num_heads=[4, 2, 2])


def test_grow_script_writes_a_loadable_equal_network_and_never_overwrites(tmp_path):
    small = _trained_like(SwinIR, upscale=2, upsampler="pixelshuffledirect").float()
    src = save_checkpoint(small, tmp_path / "small.safetensors")
    out = tmp_path / "grown.safetensors"
    run = lambda *a: subprocess.run([sys.executable, str(REPO / "scripts" / "grow_model.py"), *a],
                                    capture_output=True, text=True, timeout=120)
    r = run(str(src), "--depths", "2,4,2", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "[2, 2] -> [2, 4, 2]" in r.stdout
    grown = load_model(out).double().eval()
    x = torch.rand(1, 3, 12, 12, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(grown(x), small.double()(x), rtol=0, atol=1e-6)  # the file holds float32
    before = out.read_bytes()
    r = run(str(src), "--depths", "2,6", "-o", str(out))
    assert r.returncode == 2 and "exists; pass --force" in r.stderr and out.read_bytes() == before
    r = run(str(src), "--depths", "1", "-o", str(tmp_path / "x.safetensors"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "keeps every group" in r.stderr
    r = run(str(src), "--depths", "2,4", "-o", str(src), "--force")
    assert r.returncode == 2 and "is the input checkpoint" in r.stderr
    r = run(str(src), "--depths", "2,4", "-o", str(tmp_path / "grown.txt"))  # refused before the work
    assert r.returncode == 2 and ".safetensors, .pth or .pt" in r.stderr and not (tmp_path / "grown.txt").exists()
