"""Generic tests every registered image-to-image family passes: driven by the family registry.

A new family is covered here by filling in its ``Family.test_configs``; its own test file then only
needs the reference fixtures and manifests.
"""

from __future__ import annotations

import pytest
import torch

import swinsr
from swinsr.archs import ARCH_REGISTRY, families, get_family
from swinsr.archs.contract import SRModel
from swinsr.checkpoint import reference_state_dict
from swinsr.detect import detect

CASES = [
    pytest.param(f.name, i, cfg, id=f"{f.name}-{i}")
    for f in families("sr")
    for i, cfg in enumerate(f.test_configs)
]


def _build(family: str, cfg: dict) -> SRModel:
    torch.manual_seed(0)
    model = ARCH_REGISTRY.build(get_family(family).type_name, **cfg).eval()
    # move every parameter off its initial value so wiring mistakes show
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def _run(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out = model(x)
    return out[0] if isinstance(out, tuple) else out


def test_absolute_position_embedding_survives_save_and_load(tmp_path):
    """``ape=True`` fixes the input size to ``img_size``, so it is checked apart from the any-size cases."""
    for family in ("swinir", "swin2sr"):
        model = _build(family, dict(upscale=2, upsampler="pixelshuffledirect", ape=True, img_size=8, window_size=4,
                                    depths=[2], embed_dim=8, num_heads=[2]))
        x = torch.rand(1, 3, 8, 8)
        for suffix in (".safetensors", ".pth"):
            loaded = swinsr.load_model(swinsr.save_checkpoint(model, tmp_path / f"{family}{suffix}"))
            torch.testing.assert_close(_run(loaded, x), _run(model, x), rtol=0, atol=0)
        assert detect(reference_state_dict(model)).kwargs["ape"] is True


def test_every_sr_family_has_test_configs():
    missing = [f.name for f in families("sr") if not f.test_configs]
    assert not missing, f"families without test_configs: {missing}"


@pytest.mark.parametrize("family,index,cfg", CASES)
def test_contract_and_any_input_size(family, index, cfg):
    model = _build(family, cfg)
    assert isinstance(model, SRModel) and model.family == family
    assert model.scale >= 1 and model.in_chans in (1, 3) and model.size_multiple >= 1
    h, w = 2 * model.size_multiple + 3, 3 * model.size_multiple + 1  # not window multiples
    x = torch.rand(2, model.in_chans, h, w)
    with torch.no_grad():
        out = model(x)
    assert isinstance(out, tuple) == model.has_aux
    sr = out[0] if model.has_aux else out
    assert sr.shape == (2, model.out_chans, h * model.scale, w * model.scale)
    assert torch.isfinite(sr).all()
    assert model.estimate_bytes_per_pixel() > 0


@pytest.mark.parametrize("family,index,cfg", CASES)
def test_config_rebuilds_the_same_model(family, index, cfg):
    model = _build(family, cfg)
    clone = ARCH_REGISTRY.build(get_family(family).type_name, **model.config).eval()
    clone.load_state_dict(model.state_dict())
    x = torch.rand(1, model.in_chans, 2 * model.size_multiple, 2 * model.size_multiple)
    torch.testing.assert_close(_run(clone, x), _run(model, x), rtol=0, atol=0)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
@pytest.mark.parametrize("family,index,cfg", CASES)
def test_save_load_round_trip(tmp_path, family, index, cfg, suffix):
    model = _build(family, cfg)
    path = swinsr.save_checkpoint(model, tmp_path / f"m{suffix}")
    loaded = swinsr.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.config == model.config
    x = torch.rand(1, model.in_chans, 2 * model.size_multiple + 1, 2 * model.size_multiple)
    torch.testing.assert_close(_run(loaded, x), _run(model, x), rtol=0, atol=0)


@pytest.mark.parametrize("family,index,cfg", CASES)
def test_detection_from_reference_state_dict(family, index, cfg):
    """A reference-layout state dict (no swinsr metadata) is detected as the family; what shapes
    cannot tell is listed in the notes, and with those values given the outputs are identical."""
    model = _build(family, cfg)
    spec = detect(reference_state_dict(model))
    assert spec.arch == family
    assumed = {k: model.config[k] for k in model.config if any(n.startswith(f"{k} ") for n in spec.notes)}
    loaded = swinsr.load_model(reference_state_dict(model), **assumed)
    x = torch.rand(1, model.in_chans, 2 * model.size_multiple, 2 * model.size_multiple + 2)
    torch.testing.assert_close(_run(loaded, x), _run(model, x), rtol=0, atol=0)


FIRST_OF_EACH = [c for i, c in enumerate(CASES) if all(c.values[0] != d.values[0] for d in CASES[:i])]


@pytest.mark.parametrize("family,index,cfg", FIRST_OF_EACH)
def test_tiled_equals_whole_image(family, index, cfg):
    """Tiles aligned to ``size_multiple`` with enough overlap reproduce the whole-image result."""
    model = _build(family, cfg)
    m = model.size_multiple
    x = torch.rand(1, model.in_chans, 9 * m + 3, 8 * m + 1)
    whole = swinsr.Upscaler(model, tile=None).upscale_tensor(x)
    tiled = swinsr.Upscaler(model, tile=3 * m, tile_overlap=4 * m).upscale_tensor(x)
    assert tiled.shape == whole.shape
    mse = ((tiled - whole) ** 2).mean().item()
    assert mse < 1e-5, f"tiled vs whole: {10 * torch.log10(torch.tensor(1 / max(mse, 1e-20))):.1f} dB"


def test_load_model_overrides_are_validated(tmp_path):
    f = get_family("swinir")
    model = _build(f.name, dict(f.test_configs[0]))
    sd = reference_state_dict(model)
    with pytest.raises(swinsr.CheckpointError, match="takes no argument 'no_such_arg'; allowed: .*window_size"):
        swinsr.load_model(sd, no_such_arg=1)
    loaded = swinsr.load_model(sd, img_range=255.0)
    assert loaded.config["img_range"] == 255.0
    assert any("img_range 255.0 given by the caller" in n for n in loaded.swinsr_spec.notes)
