"""HAT: reference parity (../shared/fixtures/hat), every released configuration, fast == plain, training.

The generic contract (any input size, config round trip, tiling) is covered by test_contract.py
through the family's ``test_configs``; this file holds what is specific to HAT.
"""

from __future__ import annotations

import math

import pytest
import torch
import yaml

import swinsr
from swinsr.archs import get_family, presets
from swinsr.archs.hat import HAT, detect_hat
from swinsr.errors import CheckpointError
from swinsr.layers import OCAB, overlap_relative_position_index, plain_path, relative_position_index

from conftest import REPO, SHARED, SKIP_REASON
from family_checks import (
    assert_detected_exactly,
    assert_loads_strictly_by_shape,
    assert_round_trips,
    fixture_cases,
    load_case,
    manifest_cases,
    manifest_state_dict,
    max_error,
)
from train_helpers import make_images, tiny_options

FIXTURES = fixture_cases("hat")
# values the shapes cannot tell (HAT saves no shift mask): the fixtures were made with other ones
ASSUMED = ("img_size",)


def _oca_index(key: str, shape: tuple[int, ...]) -> torch.Tensor:
    ws = math.isqrt(shape[0])
    return overlap_relative_position_index(ws, math.isqrt(shape[1]))


BUFFERS = {
    "relative_position_index_SA": lambda key, shape: relative_position_index(math.isqrt(shape[0])),
    "relative_position_index_OCA": _oca_index,
}


@pytest.mark.parametrize("base", FIXTURES)
def test_fixture_matches_reference(base):
    """float64 < 1e-6 and float32 < 1e-4 on the fast path; the plain path in float64 too."""
    _, io, _ = load_case(base)
    model = swinsr.load_model(base.with_suffix(".pth"))
    assert isinstance(model, HAT)
    assert max_error(model, io, torch.float64) < 1e-6
    with plain_path():
        assert max_error(model, io, torch.float64) < 1e-6
    assert max_error(model, io, torch.float32) < 1e-4


@pytest.mark.parametrize("base", FIXTURES)
def test_fixture_detected_exactly(base):
    meta, _, sd = load_case(base)
    spec = swinsr.detect(sd)
    assert spec.arch == "hat"
    for key in ASSUMED:  # not stored: must be reported as assumed, never silently guessed
        assert any(n.startswith(f"{key} ") for n in spec.notes), spec.notes
    assert_detected_exactly(spec, {**meta["kwargs"], **{k: spec.kwargs[k] for k in ASSUMED}})


@pytest.mark.parametrize("base", FIXTURES)
def test_fixture_round_trips_in_reference_layout(base, tmp_path):
    meta, io, sd = load_case(base)
    model = swinsr.load_model(base.with_suffix(".pth"))
    assert_round_trips(model, sd, io["input"], tmp_path)
    # the reference OCA index has negative entries (they wrap around the bias table); kept verbatim
    assert (sd["relative_position_index_OCA"] < 0).any()


@pytest.mark.parametrize("name,entry", manifest_cases("hat"))
def test_manifest_config_detected_exactly_and_loads_strictly(name, entry):
    sd = manifest_state_dict(entry, BUFFERS)
    spec = swinsr.detect(swinsr.checkpoint.unwrap_state_dict({entry["checkpoint_key"]: sd}))
    assert spec.arch == "hat", name
    assert_detected_exactly(spec, entry["kwargs"])
    assert_loads_strictly_by_shape(spec, sd, entry)


def _tiny_hat(**overrides) -> HAT:
    torch.manual_seed(0)
    cfg = dict(upscale=2, img_size=16, window_size=4, embed_dim=12, depths=[2, 2], num_heads=[2, 3], mlp_ratio=2,
               compress_ratio=3, squeeze_factor=6, overlap_ratio=0.5, upsampler="pixelshuffle", drop_path_rate=0.0)
    model = HAT(**{**cfg, **overrides})
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model


def test_fast_path_equals_plain_path_forward_and_backward():
    model = _tiny_hat(depths=[2], num_heads=[2]).double()
    x = torch.rand(1, 3, 9, 14, dtype=torch.float64)
    model.eval()
    with torch.no_grad():
        fast = model(x)
        fast_again = model(x)  # second call: cached biases and masks
        with plain_path():
            plain = model(x)
    torch.testing.assert_close(fast, plain, rtol=0, atol=1e-10)
    torch.testing.assert_close(fast_again, fast, rtol=0, atol=0)
    # training: gradients agree too (the position-bias tables get theirs on both paths)
    model.train()
    grads = []
    for use_plain in (False, True):
        model.zero_grad()
        with plain_path() if use_plain else torch.enable_grad():
            model(x).square().mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-9, atol=1e-12, msg=name)


def test_ocab_bias_cache_follows_weight_updates():
    torch.manual_seed(0)
    block = OCAB(8, window_size=4, overlap_ratio=0.5, num_heads=2).eval()
    x = torch.rand(1, 16 * 12, 8)
    with torch.no_grad():
        before = block(x, (16, 12))
        block.relative_position_bias_table.add_(1.0)
        after = block(x, (16, 12))
        with plain_path():
            plain = block(x, (16, 12))
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, plain, rtol=1e-5, atol=1e-6)


def test_ocab_rejects_an_overlap_that_cannot_line_up():
    with pytest.raises(ValueError, match="odd overlap"):
        OCAB(12, window_size=7, overlap_ratio=0.5, num_heads=2)


@pytest.mark.skipif(SHARED is None, reason=SKIP_REASON)
def test_detection_failures_name_what_is_missing():
    _, _, sd = load_case(SHARED / "fixtures" / "hat" / "hat_x2")
    key = "layers.0.residual_group.overlap_attn.relative_position_bias_table"
    broken = {k: v for k, v in sd.items() if k != key}
    with pytest.raises(CheckpointError, match=key.replace(".", r"\.")):
        swinsr.detect(broken)
    headless = {k: v for k, v in sd.items() if not k.startswith("conv_before_upsample")}
    with pytest.raises(CheckpointError, match="conv_before_upsample.*pixelshuffle"):
        swinsr.detect(headless)
    # a SwinIR state dict shares conv_first / layers.N.residual_group names, but is not HAT's
    swinir = torch.load(SHARED / "fixtures" / "swinir" / "swinir_classical_x2.pth", weights_only=True)["params"]
    assert detect_hat(swinir) is None
    assert swinsr.detect(swinir).arch == "swinir"


def test_family_registration_and_presets():
    family = get_family("hat")
    assert family.type_name == "HAT" and family.order < get_family("swinir").order
    table = presets()
    for name in ("hat-s-x4", "hat-x4"):
        type_name, kwargs = table[name]
        assert type_name == "HAT" and kwargs["upscale"] == 4
    assert table["hat-s-x4"][1]["embed_dim"] == 144 and table["hat-x4"][1]["embed_dim"] == 180


def test_shipped_option_files_are_the_released_hat_s_x4():
    released = dict(presets()["hat-s-x4"][1])
    for rel in ("options/train/train_HAT-S_SRx4_from_scratch_shared.yml", "options/test/test_HAT-S_SRx4_shared.yml"):
        opt = yaml.safe_load((REPO / rel).read_text())
        assert opt["model_type"] == "HATModel"
        net = {k: v for k, v in opt["network_g"].items() if k != "type"}
        assert opt["network_g"]["type"] == "HAT" and net == released, rel


TINY_HAT_NET = {
    "type": "HAT", "upscale": 2, "in_chans": 3, "img_size": 8, "window_size": 4, "compress_ratio": 3,
    "squeeze_factor": 6, "conv_scale": 0.01, "overlap_ratio": 0.5, "img_range": 1.0, "depths": [2],
    "embed_dim": 12, "num_heads": [2], "mlp_ratio": 2, "upsampler": "pixelshuffle", "resi_connection": "1conv",
}


def test_hat_trains_from_official_format_options_and_resumes(tmp_path):
    from swinsr.train import train_pipeline

    data = make_images(tmp_path / "hr", n=2, size=32)

    def options(total_iter: int) -> dict:
        return tiny_options(data, name="hat", total_iter=total_iter, model_type="HATModel", network_g=dict(TINY_HAT_NET),
                            logger={"print_freq": 1, "save_checkpoint_freq": 2})

    first = train_pipeline(options(2), root=tmp_path)
    assert [it for it, _ in first.losses] == [1, 2]
    resumed = train_pipeline(options(4), root=tmp_path, auto_resume=True)
    assert resumed.resumed_from == 2
    assert [it for it, _ in resumed.losses] == [3, 4]
    assert all(math.isfinite(v["l_pix"]) for _, v in resumed.losses)
    model = swinsr.load_model(tmp_path / "experiments" / "hat" / "models" / "net_g_latest.pth")
    assert isinstance(model, HAT) and model.config["embed_dim"] == 12
    with torch.no_grad():
        assert model(torch.rand(1, 3, 9, 7)).shape == (1, 3, 18, 14)


def test_onnx_export_takes_any_window_multiple(tmp_path):
    """OCAB cuts its overlapping windows with gathers, so the graph keeps dynamic H and W."""
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is a test extra: pip install onnxruntime")
    from swinsr.export import export_onnx

    model = _tiny_hat(depths=[1], num_heads=[2]).eval()
    session = ort.InferenceSession(str(export_onnx(model, tmp_path / "hat.onnx")))
    for h, w in ((8, 12), (16, 8)):
        x = torch.rand(1, 3, h, w)
        with torch.no_grad():
            want = model(x).numpy()
        got = session.run(None, {"input": x.numpy()})[0]
        assert got.shape == want.shape and abs(got - want).max() < 1e-4
