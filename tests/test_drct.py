"""DRCT: reference parity (../shared/fixtures/drct), every released configuration, fast == plain.

The generic contract (any input size, config round trip, tiling) is covered by test_contract.py
through the family's ``test_configs``; this file holds what is specific to DRCT.
"""

from __future__ import annotations

import math

import pytest
import torch
import yaml

import swinsr
from swinsr.archs import get_family, presets
from swinsr.archs.drct import DRCT, detect_drct
from swinsr.errors import CheckpointError
from swinsr.layers import RDG, dense_block_heads, plain_path, relative_position_index, shifted_window_mask

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

FIXTURES = fixture_cases("drct")
# reference constructor defaults for what the manifests leave out (their option files omit gc)
DEFAULTS = {"gc": 32}


def _attn_mask(key: str, shape: tuple[int, ...]) -> torch.Tensor:
    ws = math.isqrt(shape[1])
    side = math.isqrt(shape[0]) * ws
    return shifted_window_mask(side, side, ws, ws // 2).clone()


BUFFERS = {
    "relative_position_index": lambda key, shape: relative_position_index(math.isqrt(shape[0])),
    "attn_mask": _attn_mask,
}


@pytest.mark.parametrize("base", FIXTURES)
def test_fixture_matches_reference(base):
    """float64 < 1e-6 and float32 < 1e-4 on the fast path; the plain path in float64 too."""
    _, io, _ = load_case(base)
    model = swinsr.load_model(base.with_suffix(".pth"))
    assert isinstance(model, DRCT)
    assert max_error(model, io, torch.float64) < 1e-6
    with plain_path():
        assert max_error(model, io, torch.float64) < 1e-6
    assert max_error(model, io, torch.float32) < 1e-4


@pytest.mark.parametrize("base", FIXTURES)
def test_fixture_detected_exactly(base):
    meta, _, sd = load_case(base)
    spec = swinsr.detect(sd)
    assert spec.arch == "drct"
    # what the fixture's constructor call left at the reference defaults
    unused = {"compress_ratio": 3, "squeeze_factor": 30, "conv_scale": 0.01, "overlap_ratio": 0.5}
    assert_detected_exactly(spec, {**unused, **meta["kwargs"]})
    assert any(n.startswith("depths ") for n in spec.notes)


@pytest.mark.parametrize("base", FIXTURES)
def test_fixture_round_trips_in_reference_layout(base, tmp_path):
    _, io, sd = load_case(base)
    model = swinsr.load_model(base.with_suffix(".pth"))
    assert_round_trips(model, sd, io["input"], tmp_path)


@pytest.mark.parametrize("name,entry", manifest_cases("drct"))
def test_manifest_config_detected_exactly_and_loads_strictly(name, entry):
    sd = manifest_state_dict(entry, BUFFERS)
    spec = swinsr.detect(swinsr.checkpoint.unwrap_state_dict({entry["checkpoint_key"]: sd}))
    assert spec.arch == "drct", name
    assert_detected_exactly(spec, {**DEFAULTS, **entry["kwargs"]})
    assert_loads_strictly_by_shape(spec, sd, entry)


def test_dense_group_follows_the_reference_layout():
    """Widths dim + k*gc, the reference head formula, mlp_ratio 1 in blocks 4-5, shifts in 2 and 4."""
    group = RDG(180, 6, 16, gc=32, mlp_ratio=2, input_resolution=(64, 64))
    heads = [getattr(group, f"swin{k}").num_heads for k in range(1, 6)]
    assert heads == [6, 4, 2, 6, 4] == [6] + [dense_block_heads(180 + k * 32, 6) for k in range(1, 5)]
    assert [getattr(group, f"swin{k}").mlp.fc1.out_features for k in range(1, 6)] == [360, 424, 488, 276, 308]
    assert [getattr(group, f"swin{k}").shift_size for k in range(1, 6)] == [0, 8, 0, 8, 0]
    assert group.adjust5.out_channels == 180 and group.adjust1.out_channels == 32


def test_fast_path_equals_plain_path_forward_and_backward():
    torch.manual_seed(0)
    model = DRCT(upscale=2, img_size=16, window_size=4, embed_dim=12, depths=[2], num_heads=[3], gc=4, mlp_ratio=2,
                 upsampler="pixelshuffle", drop_path_rate=0.0).double()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    x = torch.rand(1, 3, 9, 14, dtype=torch.float64)
    model.eval()
    with torch.no_grad():
        fast = model(x)
        with plain_path():
            plain = model(x)
    torch.testing.assert_close(fast, plain, rtol=0, atol=1e-10)
    model.train()
    grads = []
    for use_plain in (False, True):
        model.zero_grad()
        with plain_path() if use_plain else torch.enable_grad():
            model(x).square().mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-9, atol=1e-12, msg=name)


@pytest.mark.skipif(SHARED is None, reason=SKIP_REASON)
def test_detection_failures_name_what_is_missing():
    _, _, sd = load_case(SHARED / "fixtures" / "drct" / "drct_x2")
    key = "layers.0.swin1.attn.relative_position_bias_table"
    with pytest.raises(CheckpointError, match=key.replace(".", r"\.")):
        swinsr.detect({k: v for k, v in sd.items() if k != key})
    with pytest.raises(CheckpointError, match="conv_before_upsample.*pixelshuffle"):
        swinsr.detect({k: v for k, v in sd.items() if not k.startswith("conv_before_upsample")})
    # heads that break the reference formula are a layout error, not a silent misbuild
    bad = dict(sd)
    table = "layers.0.swin2.attn.relative_position_bias_table"
    bad[table] = torch.zeros(sd[table].shape[0], sd[table].shape[1] + 1)
    with pytest.raises(CheckpointError, match="heads"):
        swinsr.detect(bad)
    swinir = torch.load(SHARED / "fixtures" / "swinir" / "swinir_classical_x2.pth", weights_only=True)["params"]
    assert detect_drct(swinir) is None


def test_family_registration_and_presets():
    family = get_family("drct")
    assert family.type_name == "DRCT" and get_family("hat").order < family.order < get_family("swinir").order
    type_name, kwargs = presets()["drct-x4"]
    assert type_name == "DRCT" and kwargs["upscale"] == 4 and kwargs["embed_dim"] == 180


def test_shipped_train_option_file_is_the_released_drct_x4():
    opt = yaml.safe_load((REPO / "options/train/train_DRCT_SRx4_from_scratch_shared.yml").read_text())
    assert opt["model_type"] == "DRCTModel" and opt["network_g"]["type"] == "DRCT"
    assert {k: v for k, v in opt["network_g"].items() if k != "type"} == dict(presets()["drct-x4"][1])
