"""``--model-arg KEY=VALUE`` (issue 12 part 4): parsed once, taken by every command with ``--model``, reported by inspect."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import swinsr
from swinsr.cli import main
from swinsr.cli.model_args import parse_model_arg, parse_model_args
from swinsr.errors import OptionError
from swinsr.imageio import write_image
from swinsr.zoo import resolve_model


def run_cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return int(exc.value.code or 0)


def tiny_swinir(upscale: int) -> torch.nn.Module:
    return swinsr.build_model(
        "SwinIR", upscale=upscale, img_size=16, window_size=8, depths=[2], embed_dim=16, num_heads=[2], mlp_ratio=2,
        upsampler="pixelshuffledirect" if upscale > 1 else "",
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """A x2 SR model and a scale-1 restoration model (safetensors, exact config) and a bare x2 state dict."""
    root = tmp_path_factory.mktemp("model_args")
    sr, dn = tiny_swinir(2), tiny_swinir(1)
    out = {"sr": root / "sr.safetensors", "dn": root / "dn.safetensors", "bare": root / "bare.pth"}
    swinsr.save_checkpoint(sr, out["sr"])
    swinsr.save_checkpoint(dn, out["dn"])
    torch.save({"params": sr.state_dict()}, out["bare"])  # no stored config: detection assumes what shapes cannot tell
    return out


# ----------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("img_range=255", "img_range", 255),
        ("img_range=255.", "img_range", 255.0),
        ("depths=[6,6]", "depths", [6, 6]),
        ("depths=[6, 6, 6]", "depths", [6, 6, 6]),
        ("upsampler=pixelshuffle", "upsampler", "pixelshuffle"),
        ("qkv_bias=false", "qkv_bias", False),
        ("conv_scale=1e-2", "conv_scale", 0.01),  # PyYAML alone reads this as a string
        ("qk_scale=null", "qk_scale", None),
        (" mlp_ratio = 2.5 ", "mlp_ratio", 2.5),
        ("resi_connection=1conv", "resi_connection", "1conv"),
        ("split_size=[8,1e1]", "split_size", [8, 10.0]),
    ],
)
def test_values_are_yaml_scalars_or_flat_lists(text, key, value):
    assert parse_model_arg(text) == (key, value)
    assert type(parse_model_arg(text)[1]) is type(value)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("img_range", "expected KEY=VALUE"),
        ("=255", "expected KEY=VALUE"),
        ("1abc=2", "expected KEY=VALUE"),
        ("img-range=2", "expected KEY=VALUE"),
        ("img_range=", "no value"),
        ("depths=[6,6", "not a YAML scalar or list"),
        ("depths=[[6],[6]]", "flat lists"),
        ("depths={a: 1}", "not a mapping"),
    ],
)
def test_malformed_values_are_one_line_option_errors(text, says):
    with pytest.raises(OptionError) as exc:
        parse_model_arg(text)
    message = str(exc.value)
    assert says in message and "\n" not in message and repr(text) in message


def test_several_values_and_duplicates():
    assert parse_model_args(None) == {} and parse_model_args([]) == {}
    assert parse_model_args(["img_range=255", "depths=[2]"]) == {"img_range": 255, "depths": [2]}
    with pytest.raises(OptionError, match="img_range given twice"):
        parse_model_args(["img_range=1", "img_range=255"])


# ----------------------------------------------------------------------------- loading


def test_overrides_reach_load_model_through_resolve_model(models):
    net = resolve_model(models["sr"], overrides={"img_range": 255.0})
    assert net.img_range == 255.0 and net.swinsr_spec.kwargs["img_range"] == 255.0
    assert resolve_model(models["sr"]).img_range == 1.0


def _cli_calls(models: dict[str, Path], tmp: Path, extra: list[str]) -> dict[str, list]:
    """Every command that takes --model, with ``extra`` appended."""
    img = tmp / "in.png"
    write_image(img, (np.random.default_rng(0).random((12, 12, 3)) * 255).astype(np.uint8))
    data = tmp / "data" / "HR"
    data.mkdir(parents=True, exist_ok=True)
    write_image(data / "a.png", (np.random.default_rng(1).random((16, 16, 3)) * 255).astype(np.uint8))
    return {
        "upscale": ["upscale", img, "--model", models["sr"], "-o", tmp / "up.png", "-q", *extra],
        "restore": ["restore", img, "--model", models["dn"], "-o", tmp / "re.png", "-q", *extra],
        "benchmark": ["benchmark", "--model", models["sr"], "-d", tmp / "data", "--scale", "2", *extra],
        "benchmark-denoise": ["benchmark", "--model", models["dn"], "-d", tmp / "data", "--task", "denoise",
                              "--noise", "25", *extra],
        "export": ["export", models["sr"], "-o", tmp / "m.onnx", *extra],
        "classify": ["classify", img, "--model", models["sr"], *extra],
        "inspect": ["inspect", models["sr"], *extra],
    }


@pytest.mark.parametrize(
    "command", ["upscale", "restore", "benchmark", "benchmark-denoise", "export", "classify", "inspect"]
)
def test_every_model_command_refuses_a_malformed_model_arg_in_one_line(command, models, tmp_path, capsys):
    args = _cli_calls(models, tmp_path, ["--model-arg", "img_range"])[command]
    assert run_cli(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --model-arg 'img_range': expected KEY=VALUE") and "\n" not in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["upscale", "restore", "benchmark", "benchmark-denoise", "export", "inspect"])
def test_every_model_command_refuses_an_unknown_name_in_one_line(command, models, tmp_path, capsys):
    args = _cli_calls(models, tmp_path, ["--model-arg", "img_rnage=255"])[command]
    assert run_cli(args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "takes no argument 'img_rnage'" in err and "allowed:" in err and "img_range" in err
    assert not (tmp_path / "up.png").exists() and not (tmp_path / "m.onnx").exists()


def test_classify_passes_overrides_to_the_loader(models, tmp_path, capsys):
    # an SR file is not a classifier; the override is checked first (by name, against SwinIR)
    args = _cli_calls(models, tmp_path, ["--model-arg", "num_classes=10"])["classify"]
    assert run_cli(args) == 2
    assert "takes no argument 'num_classes'" in capsys.readouterr().err


def test_a_valid_model_arg_is_used_by_upscale_and_benchmark(models, tmp_path, capsys):
    calls = _cli_calls(models, tmp_path, [])
    assert run_cli(calls["upscale"]) == 0
    plain = swinsr.imageio.read_image(tmp_path / "up.png").array
    (tmp_path / "up.png").unlink()
    assert run_cli(_cli_calls(models, tmp_path, ["--model-arg", "img_range=255"])["upscale"]) == 0
    changed = swinsr.imageio.read_image(tmp_path / "up.png").array
    assert plain.shape == changed.shape == (24, 24, 3) and not np.array_equal(plain, changed)
    json_path = tmp_path / "b.json"
    assert run_cli(calls["benchmark"] + ["--json", json_path]) == 0
    assert run_cli(calls["benchmark"] + ["--model-arg", "img_range=255", "--json", tmp_path / "c.json"]) == 0
    psnr = [json.loads(p.read_text())["results"][0]["psnr_y"] for p in (json_path, tmp_path / "c.json")]
    assert psnr[0] != psnr[1]


# ----------------------------------------------------------------------------- inspect


def test_inspect_reports_assumed_and_given_values(models, capsys):
    assert run_cli(["inspect", models["bare"], "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert plain["given"] == {} and plain["assumed"] == plain["notes"]
    assert any(n.startswith("img_range ") for n in plain["assumed"])  # shapes cannot tell img_range

    assert run_cli(["inspect", models["bare"], "--json", "--model-arg", "img_range=255", "--model-arg", "mlp_ratio=2"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["given"] == {"img_range": 255, "mlp_ratio": 2} and info["kwargs"]["img_range"] == 255
    assert not any(n.startswith(("img_range ", "mlp_ratio ")) for n in info["assumed"])
    assert set(info["assumed"]) == {n for n in plain["assumed"] if not n.startswith("img_range ")}

    assert run_cli(["inspect", models["bare"], "--model-arg", "img_range=255"]) == 0
    table = capsys.readouterr().out
    assert "given" in table and "img_range=255 (--model-arg)" in table
    assert "assumed" in table or "note" in table


def test_inspect_takes_registered_names(capsys):
    assert run_cli(["inspect", "swinsr-light-x4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["kwargs"]["upscale"] == 4
