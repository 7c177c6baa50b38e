"""Golden outputs of the reference implementations (../shared/fixtures) must be reproduced."""

from __future__ import annotations

import json

import pytest
import torch

import swinsr
from swinsr.detect import is_derived_buffer

from conftest import SHARED

FIXTURE_DIRS = ("swinir", "swin2sr", "swin_v1", "swin_v2")
CASES = sorted(p.with_suffix("") for d in FIXTURE_DIRS for p in (SHARED / "fixtures" / d).glob("*.json")) if SHARED else []


def _case_id(p):
    return p.name


@pytest.fixture(params=CASES or [None], ids=[_case_id(c) for c in CASES] or ["no-shared"])
def case(request):
    if request.param is None:
        pytest.skip("shared fixtures not found: set SWINSR_SHARED or put shared/ beside the repository")
    base = request.param
    meta = json.loads(base.with_suffix(".json").read_text())
    io = torch.load(str(base) + ".io.pt", weights_only=True)
    return base, meta, io


def _run(model, x):
    with torch.no_grad():
        out = model(x)
    return out if isinstance(out, tuple) else (out, None)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-6), (torch.float32, 1e-4)], ids=["f64", "f32"])
def test_fixture_matches_reference(case, dtype, tol):
    base, meta, io = case
    model = swinsr.load_model(base.with_suffix(".pth")).to(dtype)
    out, aux = _run(model, io["input"].to(dtype))
    assert out.shape == io["output"].shape
    assert (out.double() - io["output"]).abs().max().item() < tol
    if "aux" in io:
        assert aux is not None and aux.shape == io["aux"].shape
        assert (aux.double() - io["aux"]).abs().max().item() < tol


def test_fixture_detected_exactly(case):
    base, meta, _ = case
    raw = torch.load(base.with_suffix(".pth"), weights_only=True)
    spec = swinsr.detect(raw[meta["checkpoint_key"]])
    for key, value in meta["kwargs"].items():
        if key == "drop_path_rate":
            continue
        assert spec.kwargs[key] == value, key


def test_fixture_roundtrip_reference_layout(case, tmp_path):
    """save_checkpoint(.pth) reproduces the reference state dict: same keys, shapes and buffers."""
    base, meta, _ = case
    ref = torch.load(base.with_suffix(".pth"), weights_only=True)[meta["checkpoint_key"]]
    model = swinsr.load_model(base.with_suffix(".pth"))
    saved = torch.load(swinsr.save_checkpoint(model, tmp_path / "m.pth"), weights_only=True)["params"]
    assert set(saved) == set(ref)
    for k, v in ref.items():
        assert saved[k].shape == v.shape, k
        if is_derived_buffer(k):
            assert torch.equal(saved[k].to(v.dtype), v), k
        else:
            assert torch.equal(saved[k], v), k


def test_inspect_describes_fixture(case, capsys):
    from swinsr.cli import main

    base, meta, _ = case
    with pytest.raises(SystemExit) as exc:
        main(["inspect", str(base.with_suffix(".pth")), "--json"])
    assert exc.value.code == 0
    info = json.loads(capsys.readouterr().out)
    for key, value in meta["kwargs"].items():
        if key != "drop_path_rate":
            assert info["kwargs"][key] == value, key
    model = swinsr.load_model(base.with_suffix(".pth"))
    assert info["parameters"] == sum(p.numel() for p in model.parameters())
