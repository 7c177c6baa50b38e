"""Hugging Face transformers interop: transformers is the independent oracle.

Tiny random-init HF models (all weights randomised, so any wiring mistake changes the output)
are converted, loaded into swinsr and compared in float64 on inputs where both implementations
compute the same thing (see the swinsr.hf docstring for where they differ).
"""

from __future__ import annotations

import math

import pytest
import torch

import swinsr
from swinsr.checkpoint import reference_state_dict
from swinsr.errors import CheckpointError
from swinsr.hf import convert_hf_state_dict, is_hf_state_dict, load_hf_model, spec_from_hf_config

T = pytest.importorskip("transformers", reason="transformers (the [test] extra) is the oracle for these tests")

TOL = 1e-6
SR_BASE = dict(image_size=64, embed_dim=16, depths=[2, 2], num_heads=[2, 4], window_size=8, mlp_ratio=2.0)


def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights everywhere (fan-in scaled); logit scales kept below the log(100) clamp."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("logit_scale"):
                p.copy_(torch.empty(p.shape).uniform_(math.log(2), math.log(20), generator=g))
            elif p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return model.double().eval()


def with_buffers(hf: torch.nn.Module) -> dict[str, torch.Tensor]:
    """State dict plus the non-persistent buffers, as older transformers files store them."""
    return {**hf.state_dict(), **dict(hf.named_buffers())}


def max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return (a - b).abs().max().item()


def sr_model(**overrides) -> torch.nn.Module:
    return randomize(T.Swin2SRForImageSuperResolution(T.Swin2SRConfig(**(SR_BASE | overrides))))


@pytest.mark.parametrize(
    "upsampler,scale",
    [("pixelshuffle", 2), ("pixelshuffle", 3), ("pixelshuffledirect", 2), ("nearest+conv", 4)],
)
def test_swin2sr_matches_transformers(upsampler, scale):
    hf = sr_model(upsampler=upsampler, upscale=scale)
    model = swinsr.load_model(hf.state_dict()).double()
    assert model.swinsr_spec.arch == "swin2sr"
    assert (model.upsampler, model.upscale) == (upsampler, scale)
    x = torch.rand(2, 3, 16, 24, dtype=torch.float64)  # window multiples: HF accepts nothing else
    with torch.no_grad():
        expected = hf(x).reconstruction
        got = model(x)
    assert got.shape == (2, 3, 16 * scale, 24 * scale)
    assert max_err(got, expected) < TOL


def test_swin2sr_pixelshuffle_aux_matches_transformers():
    hf = sr_model(upsampler="pixelshuffle_aux", upscale=2)
    model = swinsr.load_model(hf.state_dict()).double()
    # HF resizes the raw input for the bicubic branch, the reference the normalised one: they
    # agree with a zero mean (img_range is 1)
    hf.swin2sr.mean.zero_()
    model.mean.zero_()
    captured = {}
    hf.upsample.conv_aux.register_forward_hook(lambda m, i, o: captured.setdefault("aux", o))
    x = torch.rand(1, 3, 16, 24, dtype=torch.float64)
    with torch.no_grad():
        expected = hf(x).reconstruction
        sr, aux = model(x)
    assert max_err(sr, expected) < TOL
    assert max_err(aux, captured["aux"]) < TOL  # HF does not return aux; mean is 0, img_range 1


def test_swin2sr_upscale1_grayscale_matches_transformers():
    # a zero mean (grayscale) and img_range 1: HF's residual on the raw input is then the reference's
    hf = sr_model(upsampler="", upscale=1, num_channels=1)
    model = swinsr.load_model(hf.state_dict()).double()
    assert (model.upsampler, model.upscale, model.in_chans) == ("", 1, 1)
    x = torch.rand(1, 1, 16, 16, dtype=torch.float64)
    with torch.no_grad():
        assert max_err(model(x), hf(x).reconstruction) < TOL


def test_bare_swin2sr_model_converts():
    hf = randomize(T.Swin2SRModel(T.Swin2SRConfig(**SR_BASE)))
    sd = convert_hf_state_dict(hf.state_dict())
    assert "conv_first.weight" in sd and "layers.1.residual_group.blocks.1.attn.q_bias" in sd
    spec = swinsr.detect(hf.state_dict())
    assert (spec.arch, spec.kwargs["upsampler"], spec.kwargs["upscale"]) == ("swin2sr", "", 1)
    # the body alone has no reconstruction head, so there is no complete model to load
    with pytest.raises(CheckpointError, match="conv_last"):
        swinsr.load_model(hf.state_dict())


def test_swin_v1_matches_transformers():
    config = T.SwinConfig(image_size=64, patch_size=4, embed_dim=16, depths=[2, 2], num_heads=[2, 4],
                          window_size=4, num_labels=5, use_absolute_embeddings=True)
    hf = randomize(T.SwinForImageClassification(config))
    model = swinsr.load_model(hf.state_dict()).double()
    assert model.swinsr_spec.arch == "swin"
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        assert max_err(model(x), hf(x).logits) < TOL
        assert max_err(model.forward_features(x), hf.swin(x).pooler_output) < TOL


def test_bare_swin_v1_without_qkv_bias():
    config = T.SwinConfig(image_size=32, patch_size=4, embed_dim=16, depths=[2, 2], num_heads=[2, 4],
                          window_size=4, qkv_bias=False)
    hf = randomize(T.SwinModel(config))
    model = load_hf_model(hf).double()
    assert model.num_classes == 0 and model.swinsr_spec.kwargs.get("qkv_bias") is False
    x = torch.randn(1, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        assert max_err(model.forward_features(x), hf(x).pooler_output) < TOL


@pytest.mark.parametrize("pretrained_window_sizes", [[0, 0, 0], [4, 6, 4]])
def test_swin_v2_matches_transformers(pretrained_window_sizes):
    # 256 / patch 8 with window 8: detect's defaults for V2, and the last stage (8x8) shrinks
    # its window to the map and drops the shift in both implementations
    config = T.Swinv2Config(image_size=256, patch_size=8, embed_dim=8, depths=[2, 2, 2], num_heads=[1, 2, 4],
                            window_size=8, num_labels=5, pretrained_window_sizes=pretrained_window_sizes)
    hf = randomize(T.Swinv2ForImageClassification(config))
    # pretrained window sizes live only in relative_coords_table: present in older HF files
    sd = with_buffers(hf) if any(pretrained_window_sizes) else hf.state_dict()
    model = swinsr.load_model(sd).double()
    assert model.swinsr_spec.kwargs["pretrained_window_sizes"] == pretrained_window_sizes
    x = torch.randn(1, 3, 256, 256, dtype=torch.float64)
    with torch.no_grad():
        assert max_err(model(x), hf(x).logits) < TOL


def test_load_hf_model_uses_the_config():
    """Window 4, pretrained windows, img_range 255: nothing a transformers-5 state dict tells."""
    config = T.Swinv2Config(image_size=64, patch_size=4, embed_dim=8, depths=[2, 2, 2], num_heads=[1, 2, 4],
                            window_size=4, num_labels=3, pretrained_window_sizes=[2, 3, 0])
    hf = randomize(T.Swinv2ForImageClassification(config))
    guessed = swinsr.detect(hf.state_dict())
    assert guessed.kwargs["window_size"] == 8  # the documented fallback, wrong for this model
    model = load_hf_model(hf).double()
    assert model.swinsr_spec.kwargs["window_size"] == 4
    assert model.swinsr_spec.kwargs["pretrained_window_sizes"] == [2, 3, 0]
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)  # the last stage's 4x4 map is one window
    with torch.no_grad():
        assert max_err(model(x), hf(x).logits) < TOL

    sr = sr_model(window_size=4, image_size=32, img_range=255.0, upsampler="pixelshuffle", upscale=2)
    assert swinsr.detect(sr.state_dict()).kwargs["img_range"] == 1.0  # the convention, wrong here
    model = load_hf_model(sr).double()
    assert model.img_range == 255.0 and model.window_size == 4
    x = torch.rand(1, 3, 12, 8, dtype=torch.float64)
    with torch.no_grad():
        assert max_err(model(x), sr(x).reconstruction) < TOL


@pytest.mark.parametrize("kind", ["swin", "swin2sr"])
def test_save_pretrained_folder(tmp_path, kind):
    """save_pretrained writes the legacy Hub names (attention.self.query, intermediate.dense ...)."""
    if kind == "swin":
        hf = randomize(T.SwinForImageClassification(T.SwinConfig(
            image_size=64, patch_size=4, embed_dim=16, depths=[2, 2], num_heads=[2, 4], window_size=4, num_labels=4)))
        x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    else:
        hf = sr_model(upsampler="pixelshuffle", upscale=4)
        x = torch.rand(1, 3, 8, 16, dtype=torch.float64)
    hf.float().save_pretrained(tmp_path)
    hf.double()  # the float32-rounded weights that were saved: the oracle for what is on disk
    with torch.no_grad():
        expected = hf(x).logits if kind == "swin" else hf(x).reconstruction
    model = load_hf_model(tmp_path).double()
    with torch.no_grad():
        assert max_err(model(x), expected) < TOL
    # swinsr.load_model on the folder goes through the same exact, config-driven path
    via_load_model = swinsr.load_model(tmp_path).double()
    with torch.no_grad():
        assert max_err(via_load_model(x), expected) < TOL
    from safetensors.torch import load_file

    saved = load_file(str(tmp_path / "model.safetensors"))
    if kind == "swin":
        assert any(".attention.self.query." in k for k in saved), "expected the legacy layout on disk"
    # the same file through the state-dict-only path (defaults fit these configurations)
    loaded = swinsr.load_model(tmp_path / "model.safetensors").double()
    with torch.no_grad():
        assert max_err(loaded(x), expected) < TOL


DETECT_CASES = {
    "swin2sr-pixelshuffle": lambda: sr_model(upsampler="pixelshuffle", upscale=4),
    "swin2sr-direct-3ch": lambda: sr_model(upsampler="pixelshuffledirect", upscale=3),
    "swin2sr-nearest": lambda: sr_model(upsampler="nearest+conv", upscale=4),
    "swin2sr-aux": lambda: sr_model(upsampler="pixelshuffle_aux", upscale=2),
    "swin2sr-denoise": lambda: sr_model(upsampler="", upscale=1, num_channels=1),
    "swin": lambda: randomize(T.SwinForImageClassification(T.SwinConfig(
        image_size=224, patch_size=4, embed_dim=8, depths=[2, 2], num_heads=[1, 2], window_size=7, num_labels=7))),
    "swin-ape": lambda: randomize(T.SwinForImageClassification(T.SwinConfig(
        image_size=96, patch_size=4, embed_dim=8, depths=[2, 2], num_heads=[1, 2], window_size=6, num_labels=7,
        use_absolute_embeddings=True))),
    "swinv2": lambda: randomize(T.Swinv2ForImageClassification(T.Swinv2Config(
        image_size=256, patch_size=4, embed_dim=8, depths=[2, 2], num_heads=[1, 2], window_size=8, num_labels=7))),
    "swinv2-bare": lambda: randomize(T.Swinv2Model(T.Swinv2Config(
        image_size=256, patch_size=4, embed_dim=8, depths=[2, 2], num_heads=[1, 2], window_size=8))),
}


@pytest.mark.parametrize("case", sorted(DETECT_CASES))
def test_detect_on_converted_state_dicts(case):
    """Configurations matching detect's documented defaults are detected exactly."""
    hf = DETECT_CASES[case]()
    sd = hf.state_dict()
    assert is_hf_state_dict(sd)
    expected = spec_from_hf_config(hf.config, sd)
    found = swinsr.detect(sd)
    assert found.arch == expected.arch == {"swin2sr": "swin2sr", "swin": "swin", "swinv2": "swinv2"}[hf.config.model_type]
    assert found.kwargs == expected.kwargs


def test_detect_reads_windows_from_hf_buffers():
    """Older HF files keep relative_position_index / relative_coords_table: detect uses them."""
    config = T.Swinv2Config(image_size=256, patch_size=4, embed_dim=8, depths=[2, 2], num_heads=[1, 2],
                            window_size=16, pretrained_window_sizes=[8, 12], num_labels=2)
    hf = T.Swinv2ForImageClassification(config)
    assert swinsr.detect(hf.state_dict()).kwargs["window_size"] == 8  # fallback without buffers
    spec = swinsr.detect(with_buffers(hf))
    assert spec.kwargs["window_size"] == 16 and spec.kwargs["pretrained_window_sizes"] == [8, 12]
    assert spec.kwargs == spec_from_hf_config(config, hf.state_dict()).kwargs

    sr = T.Swin2SRForImageSuperResolution(T.Swin2SRConfig(**(SR_BASE | dict(window_size=4))))
    converted = convert_hf_state_dict(with_buffers(sr))
    index = converted["layers.0.residual_group.blocks.0.attn.relative_position_index"]
    assert index.shape == (16, 16)
    assert swinsr.detect(converted).kwargs["window_size"] == 4


def test_reference_state_dict_is_not_hf():
    model = swinsr.build_model("swin2sr", upscale=2, img_size=16, window_size=4, depths=[1], embed_dim=8,
                               num_heads=[2], upsampler="pixelshuffle")
    sd = reference_state_dict(model)
    assert not is_hf_state_dict(sd)
    with pytest.raises(CheckpointError):
        convert_hf_state_dict(sd)


def test_unsupported_hf_variants_are_refused():
    with pytest.raises(CheckpointError, match="3conv"):
        swinsr.load_model(T.Swin2SRForImageSuperResolution(T.Swin2SRConfig(**SR_BASE, resi_connection="3conv")).state_dict())
    with pytest.raises(CheckpointError, match="position_embeddings"):
        convert_hf_state_dict(T.Swinv2Model(T.Swinv2Config(
            image_size=32, patch_size=4, embed_dim=8, depths=[2], num_heads=[2], window_size=4,
            use_absolute_embeddings=True)).state_dict())
    mim = T.SwinForMaskedImageModeling(T.SwinConfig(image_size=32, patch_size=4, embed_dim=8, depths=[2, 2],
                                                    num_heads=[1, 2], window_size=4))
    with pytest.raises(CheckpointError, match="no reference equivalent"):
        swinsr.load_model(mim.state_dict())
    config = T.SwinConfig(image_size=32, patch_size=4, embed_dim=8, depths=[2], num_heads=[2], window_size=4,
                          hidden_act="relu")
    with pytest.raises(CheckpointError, match="hidden_act"):
        load_hf_model(T.SwinModel(config))
