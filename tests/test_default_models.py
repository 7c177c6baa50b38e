"""The embedded default models: registered, loadable, the right scale, clearly better than bicubic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import swinsr
from swinsr.benchmark import run_benchmark
from swinsr.zoo import UPSCALE, default_model_name, list_models, resolve_model

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


@pytest.mark.slow
def test_real_world_default_meets_its_target_on_set14_realx4(shared):
    # issue 11: at least 0.6 dB PSNR-Y above bicubic on the Real-ESRGAN-degraded Set14
    data = [shared / "data" / "Set14_realx4"]
    (model_row,) = run_benchmark("swinsr-real-x4", data, 4, lr_dir="LR_realesrgan", device="cpu").results
    (bicubic_row,) = run_benchmark("bicubic", data, 4, lr_dir="LR_realesrgan").results
    assert model_row["psnr_y"] >= bicubic_row["psnr_y"] + 0.6
    recorded = next(m for m in list_models() if m.name == "swinsr-real-x4").metrics["Set14_realx4"]["psnr_y"]
    assert model_row["psnr_y"] == pytest.approx(recorded, abs=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("name,task,dataset,level,key,min_gain", [
    ("swinsr-denoise", "denoise", "McMaster", 25, "sigma25", 5.0),
    ("swinsr-dejpeg", "jpeg", "LIVE1", 10, "q10", 0.5),
])
def test_restoration_defaults_beat_the_degraded_input(shared, name, task, dataset, level, key, min_gain):
    # issue 13: the embedded blind models, by the SwinIR protocol, clearly above the identity baseline
    from swinsr.restoration_benchmark import run_restoration_benchmark

    if name not in {m.name for m in list_models()}:
        pytest.skip(f"{name} is not embedded")
    data = [shared / "data" / "restoration" / dataset]
    (model_row,) = run_restoration_benchmark(None, data, task, [level], device="cpu").results
    (identity_row,) = run_restoration_benchmark("identity", data, task, [level]).results
    assert model_row["model"] == name  # the task's default
    assert model_row["psnr"] >= identity_row["psnr"] + min_gain
    recorded = next(m for m in list_models() if m.name == name).metrics[dataset][key]
    assert model_row["psnr"] == pytest.approx(recorded["psnr"], abs=0.01)
    assert identity_row["psnr"] == pytest.approx(recorded["identity_psnr"], abs=0.01)


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
    # the real-world picture: another LR folder and one panel per --model
    two = tmp_path / "real.png"
    args = ["--shared", str(shared), "--image", "Set14_realx4/comic", "--lr-dir", "LR_realesrgan", "--box", "10", "10", "16"]
    assert script.main([*args, "--model", "swinsr-light-x4", "--model", "swinsr-light-x4", "-o", str(two)]) == 0
    real = cv2.imread(str(two))
    assert real.shape == (22 + 64, 4 * 64 + 3 * 6, 3)
    assert abs(real[22:, 70:134].astype(float) - real[22:, 140:204].astype(float)).max() == 0  # same model twice
    # the restoration picture: the protocol's degradation | the embedded model | clean
    restored = tmp_path / "jpeg.png"
    args = ["--shared", str(shared), "--task", "jpeg", "--image", "restoration/LIVE1/parrots", "--box", "8", "16", "40"]
    assert script.main([*args, "-o", str(restored)]) == 0
    panels = cv2.imread(str(restored))
    assert panels.shape == (22 + 40, 3 * 40 + 2 * 6, 3)
    jpeg, model, clean = (panels[22:, x : x + 40].astype(float) for x in (0, 46, 92))
    assert abs(model - clean).mean() < abs(jpeg - clean).mean()  # restored is nearer the clean crop
    assert script.main(["--shared", str(shared), "--task", "denoise", "--image", "restoration/McMaster/1", "--box", "0", "0", "9999", "-o", str(restored)]) != 0
    assert cv2.imread(str(restored)).shape == panels.shape  # the refused box left the picture alone


# ----------------------------------------------------------------------------- the whole registry


def test_every_registered_model_loads_and_its_metrics_fit_its_task():
    """What `swinsr models` prints: each entry loads with its scale, and records figures of its task's layout."""
    from swinsr.zoo import TASKS

    for info in list_models():
        assert info.task in TASKS, info.name
        model = resolve_model(info.name)
        assert int(model.upscale) == info.scale and sum(p.numel() for p in model.parameters()) == info.parameters
        assert (info.scale == 1) == (info.task in ("denoise", "jpeg")), info.name
        assert info.metrics, f"{info.name}: no measured figures"
        for dataset, entry in info.metrics.items():
            if info.task in ("sr", "real"):
                assert 10 < entry["psnr_y"] < 60 and 0 < entry["ssim_y"] <= 1, (info.name, dataset)
                assert "bicubic_psnr_y" in entry
            else:
                levels = {k: v for k, v in entry.items() if isinstance(v, dict)}
                assert levels and all(10 < v["psnr"] < 60 and "identity_psnr" in v for v in levels.values())
                assert all(("psnrb" in v) == (info.task == "jpeg") for v in levels.values())


# ----------------------------------------------------------------------------- defaults by task (tiny registry)


def tiny_swinir(upscale: int) -> torch.nn.Module:
    return swinsr.build_model(
        "SwinIR", upscale=upscale, img_size=16, window_size=8, depths=[2], embed_dim=16, num_heads=[2], mlp_ratio=2,
        upsampler="pixelshuffledirect" if upscale > 1 else "",
    )


TINY = {  # name: (task, scale, default)
    "tiny-sr-x4": ("sr", 4, True),
    "tiny-real-x4": ("real", 4, True),
    "tiny-sr-x2": ("sr", 2, True),
    "tiny-real-x2-old": ("real", 2, False),
    "tiny-denoise": ("denoise", 1, True),
    "tiny-dejpeg": ("jpeg", 1, True),
}


@pytest.fixture
def tiny_registry(tmp_path, monkeypatch):
    """A temporary weights folder and registry.json with one tiny model per (task, scale) of :data:`TINY`."""
    import swinsr.zoo as zoo

    weights = tmp_path / "weights"
    weights.mkdir()
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", weights)
    monkeypatch.setattr(zoo, "REGISTRY_FILE", weights / "registry.json")
    registry = {}
    for name, (task, scale, default) in TINY.items():
        model = tiny_swinir(scale)
        swinsr.save_checkpoint(model, weights / f"{name}.safetensors")
        registry[name] = {"file": f"{name}.safetensors", "scale": scale, "task": task, "default": default,
                          "parameters": sum(p.numel() for p in model.parameters()), "training": "test",
                          "metrics": {}}
    (weights / "registry.json").write_text(json.dumps(registry))
    return weights


def run_cli(args: list) -> int:
    from swinsr.cli import main

    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return int(exc.value.code or 0)


def random_png(path, shape=(16, 16, 3), seed=0):
    from swinsr.imageio import write_image

    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, (np.random.default_rng(seed).random(shape) * 255).astype(np.uint8))
    return path


def test_resolve_model_defaults_by_task_and_scale(tiny_registry):
    from swinsr.zoo import upscale_default_name

    assert default_model_name(4) == "tiny-sr-x4" and default_model_name(4, "real") == "tiny-real-x4"
    assert upscale_default_name(4) == "tiny-real-x4"
    assert upscale_default_name(2) == "tiny-sr-x2"  # no real-world default for x2: the classical one
    assert resolve_model(None, scale=4, task=UPSCALE).swinsr_name == "tiny-real-x4"
    assert resolve_model(None, scale=4).swinsr_name == "tiny-sr-x4"
    assert resolve_model(None, scale=4, task="sr").swinsr_name == "tiny-sr-x4"
    with pytest.raises(swinsr.errors.OptionError, match="no embedded real-world default model for x2"):
        resolve_model(None, scale=2, task="real")  # tiny-real-x2-old is registered but not a default
    assert resolve_model(None, task="denoise").swinsr_name == "tiny-denoise"
    assert resolve_model(None, task="jpeg").swinsr_name == "tiny-dejpeg"
    with pytest.raises(swinsr.errors.OptionError, match="no embedded default model for x3"):
        resolve_model(None, scale=3, task=UPSCALE)


def test_upscale_uses_the_real_world_default_and_names_it(tiny_registry, tmp_path, capsys):
    img = random_png(tmp_path / "photo.png", (10, 12, 3))
    assert run_cli(["upscale", img, "--scale", "4", "-o", tmp_path / "out.png"]) == 0
    err = capsys.readouterr().err
    assert "tiny-real-x4" in err and "tiny-sr-x4" not in err  # the summary line names the model used
    assert run_cli(["upscale", img, "--scale", "2", "-o", tmp_path / "out2.png"]) == 0
    assert "tiny-sr-x2" in capsys.readouterr().err
    assert run_cli(["upscale", img, "--model", "tiny-sr-x4", "-o", tmp_path / "out3.png"]) == 0
    assert "tiny-sr-x4" in capsys.readouterr().err  # the classical one is one --model away
    path = tiny_registry / "tiny-sr-x4.safetensors"
    assert run_cli(["upscale", img, "--model", path, "-o", tmp_path / "out4.png"]) == 0
    assert "tiny-sr-x4.safetensors (SwinIR)" in capsys.readouterr().err


def test_benchmark_keeps_the_classical_default(tiny_registry, tmp_path):
    random_png(tmp_path / "set" / "HR" / "a.png", (32, 32, 3))
    assert run_cli(["benchmark", "-d", tmp_path / "set", "--scale", "4", "--json", tmp_path / "b.json"]) == 0
    assert json.loads((tmp_path / "b.json").read_text())["results"][0]["model"] == "tiny-sr-x4"
    assert run_cli(["benchmark", "-d", tmp_path / "set", "--scale", "4", "--model", "tiny-real-x4",
                    "--json", tmp_path / "r.json"]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["results"][0]["model"] == "tiny-real-x4"


def test_restore_tasks_use_their_defaults(tiny_registry, tmp_path, capsys):
    img = random_png(tmp_path / "noisy.png", (9, 11, 3))
    for task, name in (("denoise", "tiny-denoise"), ("jpeg", "tiny-dejpeg")):
        assert run_cli(["restore", img, "--task", task, "-o", tmp_path / f"{task}.png"]) == 0
        assert name in capsys.readouterr().err


def test_models_command_groups_by_task_with_fitting_columns(tiny_registry, capsys):
    registry = json.loads((tiny_registry / "registry.json").read_text())
    registry["tiny-denoise"]["metrics"] = {"McMaster": {"sigma25": {"psnr": 30.123, "ssim": 0.81, "identity_psnr": 20.5},
                                                         "images": 18}}
    registry["tiny-dejpeg"]["metrics"] = {"LIVE1": {"q10": {"psnr": 27.5, "ssim": 0.79, "psnrb": 27.2,
                                                            "identity_psnr": 25.69}}}
    registry["tiny-real-x4"]["metrics"] = {"Set14_realx4": {"psnr_y": 23.1, "ssim_y": 0.61, "bicubic_psnr_y": 22.2,
                                                            "classical_psnr_y": 22.1, "classical": "tiny-sr-x4"}}
    (tiny_registry / "registry.json").write_text(json.dumps(registry))
    assert run_cli(["models", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert set(listed) == set(TINY) and listed["tiny-dejpeg"]["task"] == "jpeg"
    assert listed["tiny-denoise"]["metrics"]["McMaster"]["sigma25"]["psnr"] == 30.123
    import swinsr.cli.models_cmd as models_cmd

    monkey_width = models_cmd.console.width
    models_cmd.console.width = 400
    try:
        assert run_cli(["models"]) == 0
    finally:
        models_cmd.console.width = monkey_width
    out = capsys.readouterr().out
    titles = [line.split(":")[0] for line in out.splitlines() if line.split(":")[0] in ("sr", "real", "denoise", "jpeg")]
    assert titles == ["sr", "real", "denoise", "jpeg"]
    assert "McMaster sigma25" in out and "30.12 / 0.8100 (input 20.50)" in out
    assert "LIVE1 q10" in out and "27.50 / 0.7900 / 27.20" in out
    assert "Set14_realx4 PSNR-Y / SSIM-Y" in out and "vs bicubic 22.20, tiny-sr-x4 22.10" in out


# ----------------------------------------------------------------------------- the export script


def _export_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("export_default_model", "scripts/export_default_model.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def _run_dir(tmp_path, model) -> Path:
    """A training run folder as `swinsr train` leaves it (``models/net_g_latest.pth`` with params + params_ema)."""
    run = tmp_path / "experiments" / "run"
    swinsr.save_checkpoint(model, run / "models" / "net_g_latest.pth", ema=model)
    return run


def test_export_script_changes_nothing_when_a_measurement_fails(shared, tmp_path, monkeypatch):
    import swinsr.zoo

    monkeypatch.setattr(swinsr.zoo, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(swinsr.zoo, "REGISTRY_FILE", tmp_path / "registry.json")
    (tmp_path / "registry.json").write_text('{"tiny-x2": {"file": "tiny-x2.safetensors", "scale": 2}}')
    (tmp_path / "tiny-x2.safetensors").write_bytes(b"the shipped weights")
    ckpt = tmp_path / "run.pth"
    swinsr.save_checkpoint(tiny_swinir(2), ckpt)
    script = _export_script()

    def broken(*args, **kwargs):
        raise RuntimeError("benchmark crashed")

    monkeypatch.setattr(script, "measure_sr", broken)
    argv = ["--checkpoint", str(ckpt), "--name", "tiny-x2", "--shared", str(shared), "--datasets", "Set5"]
    with pytest.raises(RuntimeError, match="benchmark crashed"):
        script.main(argv)
    assert (tmp_path / "tiny-x2.safetensors").read_bytes() == b"the shipped weights"
    assert json.loads((tmp_path / "registry.json").read_text()) == {"tiny-x2": {"file": "tiny-x2.safetensors", "scale": 2}}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry.json", "run.pth", "tiny-x2.safetensors"]
    # a missing benchmark set is refused before anything is written
    with pytest.raises(SystemExit):
        script.main(argv[:-1] + ["NoSuchSet"])
    assert (tmp_path / "tiny-x2.safetensors").read_bytes() == b"the shipped weights"


def test_export_script_writes_weights_and_measured_registry_entry(shared, tmp_path, monkeypatch):
    import swinsr.zoo

    monkeypatch.setattr(swinsr.zoo, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(swinsr.zoo, "REGISTRY_FILE", tmp_path / "registry.json")
    (tmp_path / "registry.json").write_text(json.dumps({
        "old-x2": {"file": "old.safetensors", "scale": 2, "default": True},
        "real-x2": {"file": "real.safetensors", "scale": 2, "task": "real", "default": True},
    }))
    model = tiny_swinir(2)
    ckpt = tmp_path / "run.pth"
    swinsr.save_checkpoint(model, ckpt)
    argv = ["--checkpoint", str(ckpt), "--name", "tiny-x2", "--default", "--shared", str(shared), "--datasets", "Set5"]
    assert _export_script().main(argv) == 0
    registry = json.loads((tmp_path / "registry.json").read_text())
    entry = registry["tiny-x2"]
    assert (tmp_path / entry["file"]).is_file() and entry["scale"] == 2 and entry["default"] and entry["task"] == "sr"
    assert not registry["old-x2"]["default"]  # one default per (task, scale) ...
    assert registry["real-x2"]["default"]  # ... the real-world default of x2 stays
    assert entry["parameters"] == sum(p.numel() for p in model.parameters())
    assert entry["metrics"]["Set5"]["bicubic_psnr_y"] == pytest.approx(33.678, abs=1e-3)  # measured, not copied
    assert 0 < entry["metrics"]["Set5"]["psnr_y"] < 60 and entry["metrics"]["Set5"]["images"] == 5


def test_export_script_denoise_quick_measures_mcmaster_and_keeps_the_jpeg_default(shared, tiny_registry, tmp_path):
    run = _run_dir(tmp_path, tiny_swinir(1))
    argv = ["--task", "denoise", "--run", str(run), "--name", "swinsr-denoise", "--default", "--quick",
            "--shared", str(shared), "--training", "test run"]
    assert _export_script().main(argv) == 0
    registry = json.loads((tiny_registry / "registry.json").read_text())
    entry = registry["swinsr-denoise"]
    assert entry["task"] == "denoise" and entry["scale"] == 1 and entry["default"] and entry["training"] == "test run"
    assert not registry["tiny-denoise"]["default"]  # replaced as the denoise default ...
    assert registry["tiny-dejpeg"]["default"] and registry["tiny-sr-x4"]["default"]  # ... no other default touched
    mc = entry["metrics"]["McMaster"]
    assert mc["images"] == 2 and set(k for k in mc if k != "images") == {"sigma15", "sigma25", "sigma50"}
    for sigma in (15, 25, 50):
        row = mc[f"sigma{sigma}"]
        # the identity baseline is the noisy input: about 20 log10(255 / sigma) (a little more: clipping to [0, 255])
        assert 20 * np.log10(255 / sigma) - 0.2 < row["identity_psnr"] < 20 * np.log10(255 / sigma) + 1.5
        assert 0 < row["psnr"] < 60 and 0 < row["ssim"] <= 1 and "psnrb" not in row
    assert resolve_model(None, task="denoise").swinsr_name == "swinsr-denoise"


def test_export_script_jpeg_levels_record_psnrb(shared, tiny_registry, tmp_path, capsys):
    run = _run_dir(tmp_path, tiny_swinir(1))
    argv = ["--task", "jpeg", "--run", str(run), "--name", "tiny-dejpeg-2", "--max-images", "1", "--levels", "10",
            "--shared", str(shared)]
    assert _export_script().main(argv) == 0
    registry = json.loads((tiny_registry / "registry.json").read_text())
    row = registry["tiny-dejpeg-2"]["metrics"]["LIVE1"]["q10"]
    assert {"psnr", "ssim", "psnrb", "identity_psnr", "identity_ssim", "identity_psnrb"} <= set(row)
    assert not registry["tiny-dejpeg-2"]["default"] and registry["tiny-dejpeg"]["default"]  # no --default
    card = capsys.readouterr().out.split("model card (markdown):")[1]
    assert "| RGB PSNR / SSIM / PSNR-B | LIVE1 q10 |" in card
    assert f"| input (identity) | {row['identity_psnr']:.2f} / {row['identity_ssim']:.4f} / {row['identity_psnrb']:.2f} |" in card


def test_export_script_real_quick_measures_bicubic_and_the_classical_model(shared, tiny_registry, tmp_path, capsys):
    run = _run_dir(tmp_path, tiny_swinir(4))
    argv = ["--task", "real", "--run", str(run), "--name", "swinsr-real-x4", "--default", "--quick",
            "--shared", str(shared)]
    assert _export_script().main(argv) == 0
    registry = json.loads((tiny_registry / "registry.json").read_text())
    entry = registry["swinsr-real-x4"]
    assert entry["task"] == "real" and entry["scale"] == 4 and entry["default"]
    assert registry["tiny-sr-x4"]["default"] and not registry["tiny-real-x4"]["default"]
    m = entry["metrics"]["Set14_realx4"]
    assert m["images"] == 2 and m["lr"] == "LR_realesrgan" and m["classical"] == "tiny-sr-x4"
    card = capsys.readouterr().out.split("model card (markdown):")[1]  # printed for the README
    assert f"| bicubic | {m['bicubic_psnr_y']:.3f} / {m['bicubic_ssim_y']:.4f} |" in card
    assert f"| tiny-sr-x4 | {m['classical_psnr_y']:.3f}" in card and f"| **swinsr-real-x4** | {m['psnr_y']:.3f}" in card
    for key in ("psnr_y", "ssim_y", "bicubic_psnr_y", "bicubic_ssim_y", "classical_psnr_y", "classical_ssim_y"):
        assert 0 < m[key] < 60, key
    # scored on the Real-ESRGAN LR of those two images (not on LR generated by bicubic downscaling)
    from swinsr.benchmark import run_benchmark

    (bic,) = run_benchmark("bicubic", [_two_images(shared / "data" / "Set14_realx4", tmp_path)], 4,
                           lr_dir="LR_realesrgan").results
    assert m["bicubic_psnr_y"] == pytest.approx(bic["psnr_y"], abs=1e-3)
    assert resolve_model(None, scale=4, task=UPSCALE).swinsr_name == "swinsr-real-x4"
    assert resolve_model(None, scale=4).swinsr_name == "tiny-sr-x4"


def _two_images(root, tmp_path):
    out = tmp_path / "two" / root.name
    (out / "HR").mkdir(parents=True)
    for f in sorted((root / "HR").iterdir())[:2]:
        (out / "HR" / f.name).symlink_to(f)
    (out / "LR_realesrgan").symlink_to(root / "LR_realesrgan")
    return out


def test_export_script_refuses_a_task_that_does_not_fit_the_scale(tiny_registry, tmp_path, capsys):
    run = _run_dir(tmp_path, tiny_swinir(4))
    with pytest.raises(SystemExit) as exc:
        _export_script().main(["--task", "denoise", "--run", str(run), "--name", "x"])
    assert exc.value.code == 2 and "must be scale 1" in capsys.readouterr().err
    assert not (tiny_registry / "x.safetensors").exists()
    assert _export_script().main(["--run", str(run), "--name", "x", "--model-arg", "nope=1"]) == 2
    assert "takes no argument 'nope'" in capsys.readouterr().err
