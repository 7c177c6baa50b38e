"""The embedded default models: registered, loadable, the right scale, clearly better than bicubic."""

from __future__ import annotations

import pytest

import swinsr
from swinsr.benchmark import run_benchmark
from swinsr.zoo import default_model_name, list_models, resolve_model

SCALES = (2, 3, 4)
# A regression guard, not the target: a broken export, a wrong scale or an untrained head
# lands far below bicubic; each shipped model measured more than this above it.
MIN_GAIN_DB = 0.5


def test_every_scale_has_a_registered_default():
    names = {m.name for m in list_models()}
    for scale in SCALES:
        name = default_model_name(scale)
        assert name in names, f"no default for x{scale}"
        info = next(m for m in list_models() if m.name == name)
        assert info.path.is_file() and info.path.stat().st_size < 4e6
        assert info.metrics["Set5"]["psnr_y"] > info.metrics["Set5"]["bicubic_psnr_y"]


@pytest.mark.parametrize("scale", SCALES)
def test_default_loads_with_its_scale(scale):
    model = resolve_model(None, scale=scale)
    assert model.upscale == scale and model.in_chans == 3
    info = next(m for m in list_models() if m.name == default_model_name(scale))
    assert sum(p.numel() for p in model.parameters()) == info.parameters <= 1_000_000


@pytest.mark.slow
@pytest.mark.parametrize("scale", SCALES)
def test_default_beats_bicubic_on_set5(shared, scale):
    data = [shared / "data" / "Set5"]
    (model_row,) = run_benchmark(None, data, scale, device="cpu").results
    (bicubic_row,) = run_benchmark("bicubic", data, scale).results
    assert model_row["psnr_y"] > bicubic_row["psnr_y"] + MIN_GAIN_DB
    # the registry's numbers are what this measures (they are printed by `swinsr models`)
    recorded = next(m for m in list_models() if m.name == default_model_name(scale)).metrics["Set5"]["psnr_y"]
    assert model_row["psnr_y"] == pytest.approx(recorded, abs=0.01)


def test_upscale_cli_uses_the_default(tmp_path):
    import numpy as np

    from swinsr.cli import main
    from swinsr.imageio import read_image, write_image

    write_image(tmp_path / "in.png", (np.random.default_rng(0).random((20, 24, 3)) * 255).astype(np.uint8))
    with pytest.raises(SystemExit) as exc:
        main(["upscale", str(tmp_path / "in.png"), "--scale", "4", "-o", str(tmp_path / "out.png"), "--quiet"])
    assert exc.value.code == 0
    assert read_image(tmp_path / "out.png").array.shape == (80, 96, 3)
    assert isinstance(swinsr.zoo.load_pretrained(default_model_name(4)), swinsr.SwinIR)


def test_before_after_picture_script(shared, tmp_path):
    import importlib.util

    import cv2

    spec = importlib.util.spec_from_file_location("make_before_after", "scripts/make_before_after.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "ba.png"
    assert script.main(["--shared", str(shared), "--box", "10", "10", "16", "-o", str(out)]) == 0
    picture = cv2.imread(str(out))
    assert picture.shape == (22 + 64, 3 * 64 + 2 * 6, 3)
    bicubic, model = picture[22:, :64].astype(float), picture[22:, 70:134].astype(float)
    assert abs(bicubic - model).mean() > 1  # the model panel is not a copy of the bicubic one
    assert script.main(["--shared", str(shared), "--image", "Set14/missing", "-o", str(out)]) != 0
    assert cv2.imread(str(out)).shape == picture.shape  # a failed run leaves the earlier picture alone


def test_export_script_writes_weights_and_measured_registry_entry(shared, tmp_path, monkeypatch):
    import importlib.util
    import json

    import swinsr.zoo

    monkeypatch.setattr(swinsr.zoo, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(swinsr.zoo, "REGISTRY_FILE", tmp_path / "registry.json")
    (tmp_path / "registry.json").write_text(json.dumps({"old-x2": {"file": "old.safetensors", "scale": 2, "default": True}}))
    model = swinsr.build_model("SwinIR", upscale=2, img_size=16, window_size=8, depths=[2], embed_dim=16, num_heads=[2],
                               mlp_ratio=2, upsampler="pixelshuffledirect")
    ckpt = tmp_path / "run.pth"
    swinsr.save_checkpoint(model, ckpt)
    spec = importlib.util.spec_from_file_location("export_default_model", "scripts/export_default_model.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    argv = ["--checkpoint", str(ckpt), "--name", "tiny-x2", "--default", "--shared", str(shared), "--datasets", "Set5"]
    assert script.main(argv) == 0
    registry = json.loads((tmp_path / "registry.json").read_text())
    entry = registry["tiny-x2"]
    assert (tmp_path / entry["file"]).is_file() and entry["scale"] == 2 and entry["default"]
    assert not registry["old-x2"]["default"]  # one default per scale
    assert entry["parameters"] == sum(p.numel() for p in model.parameters())
    assert entry["metrics"]["Set5"]["bicubic_psnr_y"] == pytest.approx(33.678, abs=1e-3)  # measured, not copied
    assert 0 < entry["metrics"]["Set5"]["psnr_y"] < 60
