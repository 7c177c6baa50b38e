"""Checks shared by the per-family reference tests (HAT, DRCT, ...): golden fixtures and manifests.

A family's test file names its fixture folder / manifest and how to fill the derived buffers of a
shape-only state dict; these helpers do the loading, comparing and strict-loading.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping

import pytest
import torch

import swinsr
from swinsr.checkpoint import load_state_dict_into, reference_state_dict

from conftest import SHARED, SKIP_REASON

#: derived-buffer leaf name -> (full key, shape) -> the value a released file holds
BufferValues = Mapping[str, Callable[[str, tuple[int, ...]], torch.Tensor]]


def fixture_cases(folder: str) -> list[Any]:
    """One ``pytest.param`` per ``../shared/fixtures/<folder>/*.json`` (a skip marker without shared/)."""
    if SHARED is None:
        return [pytest.param(None, id="no-shared", marks=pytest.mark.skip(reason=SKIP_REASON))]
    return [pytest.param(p.with_suffix(""), id=p.stem) for p in sorted((SHARED / "fixtures" / folder).glob("*.json"))]


def load_case(base: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``(meta, io, reference state dict)`` of one fixture."""
    meta = json.loads(base.with_suffix(".json").read_text())
    io = torch.load(str(base) + ".io.pt", weights_only=True)
    sd = torch.load(base.with_suffix(".pth"), weights_only=True)[meta["checkpoint_key"]]
    return meta, io, sd


def max_error(model: torch.nn.Module, io: Mapping[str, torch.Tensor], dtype: torch.dtype) -> float:
    """Largest absolute difference to the recorded reference output, running ``model`` in ``dtype``."""
    model = model.to(dtype)
    with torch.no_grad():
        out = model(io["input"].to(dtype))
    assert out.shape == io["output"].shape
    return (out.double() - io["output"]).abs().max().item()


def manifest_cases(name: str) -> list[Any]:
    """One ``pytest.param(config_name, entry)`` per configuration of ``manifests/<name>.json``."""
    if SHARED is None:
        return [pytest.param(None, None, id="no-shared", marks=pytest.mark.skip(reason=SKIP_REASON))]
    data = json.loads((SHARED / "fixtures" / "manifests" / f"{name}.json").read_text())
    return [pytest.param(key, entry, id=key) for key, entry in data["models"].items()]


def manifest_state_dict(entry: Mapping[str, Any], buffers: BufferValues) -> dict[str, torch.Tensor]:
    """Random tensors of the manifest's shapes; derived buffers get their released values."""
    sd = {}
    for key, shape in entry["state_dict"].items():
        fill = buffers.get(key.rsplit(".", 1)[-1])
        sd[key] = fill(key, tuple(shape)) if fill else torch.empty(shape)
    return sd


def assert_detected_exactly(spec: Any, expected: Mapping[str, Any]) -> None:
    """``spec.kwargs`` equals ``expected``: the same names and values (``drop_path_rate`` aside)."""
    expected = {k: v for k, v in expected.items() if k != "drop_path_rate"}
    extra = sorted(set(spec.kwargs) - set(expected))
    missing = sorted(set(expected) - set(spec.kwargs))
    assert not extra and not missing, f"detect returned extra {extra}, missed {missing}"
    for key, value in expected.items():
        assert spec.kwargs[key] == value, f"{key}: detected {spec.kwargs[key]!r}, reference {value!r}"


def assert_loads_strictly_by_shape(spec: Any, sd: Mapping[str, torch.Tensor], entry: Mapping[str, Any]) -> None:
    """The model of ``spec`` takes ``sd`` strictly, and its reference layout is the released file's.

    Built on the meta device (shapes only), so a 40M-parameter configuration costs a second.
    """
    with torch.device("meta"):
        model = spec.build()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "copying into a meta parameter is a no-op"
        load_state_dict_into(model, sd)
    ref = reference_state_dict(model)
    assert {k: tuple(v.shape) for k, v in ref.items()} == {k: tuple(s) for k, s in entry["state_dict"].items()}


def assert_round_trips(model: torch.nn.Module, ref_sd: Mapping[str, torch.Tensor], x: torch.Tensor, tmp: Path) -> None:
    """``save_checkpoint`` -> ``load_model`` in both formats keeps the outputs; the ``.pth`` is the
    reference layout (every key of ``ref_sd``, derived buffers with the reference values)."""
    with torch.no_grad():
        want = model(x)
    for suffix in (".safetensors", ".pth"):
        path = swinsr.save_checkpoint(model, tmp / f"m{suffix}")
        loaded = swinsr.load_model(path)
        assert loaded.config == model.config
        with torch.no_grad():
            torch.testing.assert_close(loaded(x), want, rtol=0, atol=0)
    saved = torch.load(tmp / "m.pth", weights_only=True)["params"]
    assert set(saved) == set(ref_sd)
    for key, value in ref_sd.items():
        assert torch.equal(saved[key].to(value.dtype), value), key
