"""Checkpoint reading, unwrapping, safety and saving."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest
import torch

import swinsr
from swinsr.checkpoint import read_checkpoint, unwrap_state_dict
from swinsr.errors import CheckpointError

TINY = dict(upscale=2, in_chans=3, img_size=16, window_size=8, img_range=1.0, depths=[2], embed_dim=16,
            num_heads=[2], mlp_ratio=2, upsampler="pixelshuffledirect", resi_connection="1conv")


@pytest.fixture
def tiny():
    return swinsr.SwinIR(**TINY).eval()


def _same_output(a, b):
    x = torch.rand(1, 3, 11, 13)
    with torch.no_grad():
        return torch.equal(a(x), b(x))


@pytest.mark.parametrize("key", ["params_ema", "params", "model", "state_dict", None])
def test_unwrap_variants(tiny, tmp_path, key):
    sd = tiny.state_dict()
    obj = {key: sd, "meta": {"iter": 3}} if key else sd
    torch.save(obj, tmp_path / "m.pth")
    assert _same_output(tiny, swinsr.load_model(tmp_path / "m.pth"))


def test_params_ema_preferred_over_params(tiny, tmp_path):
    other = swinsr.SwinIR(**TINY)
    torch.save({"params": other.state_dict(), "params_ema": tiny.state_dict()}, tmp_path / "m.pth")
    assert _same_output(tiny, swinsr.load_model(tmp_path / "m.pth"))


def test_module_prefix_and_derived_buffers_of_other_size(tiny, tmp_path):
    ref = swinsr.reference_state_dict(swinsr.SwinIR(**{**TINY, "img_size": 48}))
    ref.update({k: v for k, v in tiny.state_dict().items()})
    torch.save({"params": {f"module.{k}": v for k, v in ref.items()}}, tmp_path / "m.pth")
    model = swinsr.load_model(tmp_path / "m.pth")
    assert model.img_size == 48  # detected from the saved mask, recomputed for any input size
    assert _same_output(tiny, model)


def test_safetensors_roundtrip_keeps_config(tiny, tmp_path):
    path = swinsr.save_checkpoint(tiny, tmp_path / "m.safetensors")
    loaded = swinsr.load_model(path)
    assert loaded.swinsr_spec.kwargs == tiny.config
    assert _same_output(tiny, loaded)
    assert not list(tmp_path.glob(".*.tmp"))


def test_saved_files_get_normal_permissions(tiny, tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        path = swinsr.save_checkpoint(tiny, tmp_path / "m.pth")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_pth_has_reference_layout(tiny, tmp_path):
    data = torch.load(swinsr.save_checkpoint(tiny, tmp_path / "m.pth", ema=tiny), weights_only=True)
    # the reference layout, plus the exact configuration (plain containers) that reference loaders ignore
    assert set(data) == {"params", "params_ema", "swinsr_spec"}
    assert data["swinsr_spec"] == {"swinsr_arch": "swinir", "swinsr_kwargs": tiny.config}
    assert "layers.0.residual_group.blocks.1.attn_mask" in data["params"]
    assert data["params"]["layers.0.residual_group.blocks.0.attn.relative_position_index"].shape == (64, 64)


def test_state_dict_source(tiny):
    assert _same_output(tiny, swinsr.load_model({"params": tiny.state_dict()}))


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_refuses_code_execution(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"params": Evil()}, path)
    with pytest.raises(CheckpointError, match="never executes code"):
        swinsr.load_model(path)


@pytest.mark.parametrize(
    "content,match",
    [(b"", "empty file"), (b"hello world\n", "not a readable PyTorch checkpoint"), (None, "no such file")],
)
def test_bad_files(tmp_path, content, match):
    path = tmp_path / "bad.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=match) as exc:
        read_checkpoint(path)
    assert str(path) in str(exc.value)


def test_bad_safetensors(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        read_checkpoint(path)


def test_not_a_swin_state_dict(tmp_path):
    torch.save({"conv.weight": torch.zeros(3, 3, 3, 3)}, tmp_path / "cnn.pth")
    with pytest.raises(CheckpointError, match="cnn.pth: not a state dict of a supported architecture .*SwinIR.*first keys: conv.weight"):
        swinsr.load_model(tmp_path / "cnn.pth")
    with pytest.raises(CheckpointError, match="no tensors found"):
        unwrap_state_dict({"epoch": 3})


def test_mismatched_weights_name_the_keys(tiny):
    sd = tiny.state_dict()
    sd.pop("conv_after_body.bias")
    with pytest.raises(CheckpointError, match="missing: conv_after_body.bias"):
        swinsr.load_model(sd)


def test_inspect_cli(tiny, tmp_path):
    path = swinsr.save_checkpoint(tiny, tmp_path / "m.pth")
    out = subprocess.run([sys.executable, "-m", "swinsr", "inspect", str(path), "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert '"arch": "swinir"' in out.stdout and '"upsampler": "pixelshuffledirect"' in out.stdout
    bad = subprocess.run([sys.executable, "-m", "swinsr", "inspect", str(tmp_path / "nope.pth")], capture_output=True, text=True)
    assert bad.returncode == 2 and "no such file" in bad.stderr and "Traceback" not in bad.stderr
