"""Every released model-zoo configuration is detected exactly and loads strictly.

The manifests list each released checkpoint's tensor names and shapes. A state dict with those
shapes is built here; derived buffers get the values the released files carry (only Swin V2's
``relative_coords_table`` values matter: they encode ``pretrained_window_sizes``).
"""

from __future__ import annotations

import json
import math

import pytest
import torch

import swinsr
from swinsr.checkpoint import load_state_dict_into
from swinsr.layers import log_spaced_relative_coords, relative_position_index

from conftest import SHARED

# Reference constructor defaults, for manifest entries that only list what differs.
SR_DEFAULTS = dict(img_size=64, in_chans=3, window_size=7, img_range=1.0, mlp_ratio=4.0, upsampler="", resi_connection="1conv")
CLS_DEFAULTS = dict(img_size=224, patch_size=4, in_chans=3, num_classes=1000, window_size=7, mlp_ratio=4.0)
FAMILY = {"swinir": "swinir", "swin2sr": "swin2sr", "swin_v1": "swin", "swin_v2": "swinv2"}


def _manifest_cases():
    if SHARED is None:
        return []
    cases = []
    for fname, family in FAMILY.items():
        data = json.loads((SHARED / "fixtures" / "manifests" / f"{fname}.json").read_text())
        for name, entry in data["models"].items():
            cases.append(pytest.param(family, entry, id=f"{fname}:{name}"))
    return cases


CASES = _manifest_cases() or [pytest.param(None, None, id="no-shared")]


def _expected_kwargs(family, kwargs):
    base = dict(SR_DEFAULTS if family in ("swinir", "swin2sr") else CLS_DEFAULTS)
    if family == "swinv2":
        base["img_size"] = 256
        base["pretrained_window_sizes"] = [0] * len(kwargs["depths"])
    base.update(kwargs)
    return base


def _state_dict(entry, family, expected):
    sd = {}
    for key, shape in entry["state_dict"].items():
        leaf = key.rsplit(".", 1)[-1]
        if leaf == "relative_position_index":
            sd[key] = relative_position_index(math.isqrt(shape[0]))
        elif leaf == "relative_coords_table":
            window = (shape[1] + 1) // 2
            stage = int(key.split(".")[1]) if family == "swinv2" else 0
            pretrained = expected.get("pretrained_window_sizes", [0] * 9)[stage]
            sd[key] = log_spaced_relative_coords(window, pretrained)
        else:
            sd[key] = torch.empty(shape)
    return sd


@pytest.mark.parametrize("family,entry", CASES)
def test_manifest_detected_and_loads_strictly(family, entry):
    if family is None:
        pytest.skip("shared manifests not found: set SWINSR_SHARED or put shared/ beside the repository")
    expected = _expected_kwargs(family, entry["kwargs"])
    sd = _state_dict(entry, family, expected)
    wrapped = {entry["checkpoint_key"]: sd}
    spec = swinsr.detect(swinsr.checkpoint.unwrap_state_dict(wrapped))
    assert spec.arch == family
    for key, value in spec.kwargs.items():
        assert key in expected, f"detect returned unexpected kwarg {key}"
        assert value == expected[key], f"{key}: detected {value!r}, reference {expected[key]!r}"
    for key in expected:
        if key not in ("drop_path_rate",):
            assert key in spec.kwargs, f"detect did not return {key}"
    model = spec.build()
    load_state_dict_into(model, sd)
    # every learnable tensor of the model was in the file and vice versa
    params = dict(model.state_dict())
    assert set(params) <= set(sd)
    assert all(params[k].shape == sd[k].shape for k in params)
    # the reference layout we would write has exactly the released file's keys and shapes
    ref = swinsr.reference_state_dict(model)
    assert {k: tuple(v.shape) for k, v in ref.items()} == {k: tuple(s) for k, s in entry["state_dict"].items()}
