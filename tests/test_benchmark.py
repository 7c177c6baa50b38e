"""swinsr benchmark: the reference protocol's bicubic numbers, a fixture model, outputs and the visual report."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import swinsr
from swinsr.benchmark import comparison_strip, find_dataset, most_different_region, read_eval_image, run_benchmark
from swinsr.errors import ImageError, OptionError
from swinsr.imresize import imresize, mod_crop
from swinsr.metrics import calculate_psnr, to_uint

# the reference evaluation code on the ../shared files: bicubic PSNR-Y with crop_border = scale
BICUBIC_PSNR_Y = {
    ("Set5", 2): 33.678, ("Set5", 3): 30.404, ("Set5", 4): 28.431,
    ("Set14", 2): 30.327, ("Set14", 3): 27.632, ("Set14", 4): 26.090,
}
CASES = sorted(BICUBIC_PSNR_Y)


def _run_cli(args: list[str]) -> int:
    from swinsr.cli import main

    with pytest.raises(SystemExit) as exc:
        main(args)
    return int(exc.value.code or 0)


@pytest.mark.parametrize("dataset,scale", CASES)
def test_bicubic_matches_reference_with_shared_lr(shared, dataset, scale):
    report = run_benchmark("bicubic", [shared / "data" / dataset], scale)
    (row,) = report.results
    assert row["images"] == {"Set5": 5, "Set14": 14}[dataset]
    assert row["psnr_y"] == pytest.approx(BICUBIC_PSNR_Y[dataset, scale], abs=0.005)
    assert 0 < row["ssim_y"] < 1 and row["psnr_rgb"] < row["psnr_y"]


@pytest.mark.parametrize("dataset", ["Set5", pytest.param("Set14", marks=pytest.mark.slow)])
def test_bicubic_matches_reference_with_hr_only_folder(shared, tmp_path, dataset):
    hr_only = tmp_path / dataset
    shutil.copytree(shared / "data" / dataset / "HR", hr_only / "HR")
    for scale in (2, 3, 4):
        ds = find_dataset(hr_only, scale)
        assert ds.lr_files is None  # LR is generated
        (row,) = run_benchmark("bicubic", [hr_only], scale).results
        assert row["psnr_y"] == pytest.approx(BICUBIC_PSNR_Y[dataset, scale], abs=0.02), scale


def _small_dataset(shared: Path, root: Path, with_lr_scale: int | None = None) -> Path:
    """Two small HR crops of Set5 (one saved as grayscale), optionally with generated LR files."""
    (root / "HR").mkdir(parents=True)
    for name, (y, x) in (("bird", (100, 90)), ("butterfly", (60, 80))):
        img = cv2.imread(str(shared / "data" / "Set5" / "HR" / f"{name}.png"))[y : y + 41, x : x + 38]
        if name == "butterfly":
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        cv2.imwrite(str(root / "HR" / f"{name}.png"), img)
        if with_lr_scale:
            s = with_lr_scale
            lr_dir = root / "LR_bicubic" / f"X{s}"
            lr_dir.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(lr_dir / f"{name}x{s}.png"), imresize(mod_crop(img, s), 1 / s))
    return root


def test_fixture_checkpoint_benchmarks_with_all_outputs(shared, tmp_path, capsys):
    ckpt = shared / "fixtures" / "swinir" / "swinir_classical_x2.pth"
    data = _small_dataset(shared, tmp_path / "Tiny", with_lr_scale=2)
    out = tmp_path / "out"
    code = _run_cli([
        "benchmark", "--model", str(ckpt), "--dataset", str(data), "--scale", "2", "--json", str(out / "r.json"),
        "--csv", str(out / "r.csv"), "--save-images", str(out / "sr"), "--report", str(out / "report"),
        "--device", "cpu", "--tile", "24", "--tile-overlap", "8",
    ])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Tiny" in captured.out and "PSNR-Y" in captured.out

    doc = json.loads((out / "r.json").read_text())
    (row,) = doc["results"]
    assert set(row) == {"dataset", "scale", "model", "psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb", "images",
                        "seconds", "peak_mem_mb"}
    assert row["dataset"] == "Tiny" and row["scale"] == 2 and row["model"] == "swinir_classical_x2"
    assert row["images"] == 2 and len(doc["per_image"]) == 2 and row["seconds"] > 0
    assert row["psnr_y"] == pytest.approx(np.mean([r["psnr_y"] for r in doc["per_image"]]))

    # the engine's number is the protocol applied to the model's own output
    model = swinsr.load_model(ckpt)
    hr = mod_crop(read_eval_image(data / "HR" / "bird.png"), 2)
    lr = read_eval_image(data / "LR_bicubic" / "X2" / "birdx2.png")
    with torch.no_grad():
        sr = model(torch.from_numpy(lr.transpose(2, 0, 1).astype(np.float32) / 255)[None]).clamp(0, 1)
    expected = calculate_psnr(to_uint(sr[0].permute(1, 2, 0).numpy()), hr, 2, test_y_channel=True)
    bird = next(r for r in doc["per_image"] if r["image"] == "bird")
    assert bird["psnr_y"] == pytest.approx(expected, abs=0.05)  # tiled vs whole-image forward

    with open(out / "r.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1 and float(rows[0]["psnr_y"]) == pytest.approx(row["psnr_y"])
    with open(out / "r_per_image.csv", newline="") as fh:
        assert [r["image"] for r in csv.DictReader(fh)] == ["bird", "butterfly"]

    saved = read_eval_image(out / "sr" / "Tiny" / "X2" / "butterfly.png")
    assert saved.shape == (40, 38, 3)  # gray HR read as 3 channels, mod-2 crop of 41x38

    md = (out / "report" / "report.md").read_text()
    assert "| Tiny | x2 | swinir_classical_x2 |" in md
    for stem in ("bird", "butterfly"):
        assert f"Tiny_x2/{stem}.png" in md
        strip = read_eval_image(out / "report" / "Tiny_x2" / f"{stem}.png")
        assert strip.shape[1] == 3 * 38 + 2 * 6 and strip.shape[0] > 40 + 38  # 3 panels; full view + zoom


def test_wrong_scale_and_bad_folders_are_clean_errors(shared, tmp_path, capsys):
    ckpt = shared / "fixtures" / "swinir" / "swinir_classical_x2.pth"
    data = _small_dataset(shared, tmp_path / "Tiny", with_lr_scale=3)
    assert _run_cli(["benchmark", "-m", str(ckpt), "-d", str(data), "-s", "3"]) == 2
    assert "upscales x2" in capsys.readouterr().err
    assert _run_cli(["benchmark", "-m", "bicubic", "-d", str(tmp_path / "missing"), "-s", "2"]) == 2
    assert "folder not found" in capsys.readouterr().err
    (data / "LR_bicubic" / "X3" / "birdx3.png").unlink()
    with pytest.raises(ImageError, match="birdx3.png"):
        find_dataset(data, 3)
    # an LR folder of the wrong scale: sizes do not match the HR crop
    shutil.copytree(data / "LR_bicubic" / "X3", data / "LR_bicubic" / "X2")
    (data / "LR_bicubic" / "X2" / "butterflyx3.png").rename(data / "LR_bicubic" / "X2" / "butterflyx2.png")
    shutil.copy(data / "LR_bicubic" / "X2" / "butterflyx2.png", data / "LR_bicubic" / "X2" / "birdx2.png")
    with pytest.raises(ImageError, match="does not match"):
        run_benchmark("bicubic", [data], 2)
    with pytest.raises(OptionError):
        run_benchmark("bicubic", [data], 0)


def test_lpips_request_without_lpips_does_not_crash(shared, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "lpips", None)
    messages: list[str] = []
    data = _small_dataset(shared, tmp_path / "Tiny")
    report = run_benchmark("bicubic", [data], 2, lpips=True, log=messages.append)
    assert any("LPIPS skipped" in m for m in messages)
    assert "lpips" not in report.results[0] and report.results[0]["images"] == 2


def test_most_different_region_and_strip():
    a = np.zeros((60, 80, 3), np.uint8)
    b = a.copy()
    b[30:40, 50:60] = 200
    y, x = most_different_region(b, a, 12)
    assert 28 <= y <= 30 and 48 <= x <= 50  # the 12x12 window covering the 10x10 patch
    strip = comparison_strip(a, b, a, labels=("bicubic", "model", "HR"))
    assert strip.dtype == np.uint8 and strip.shape[1] == 3 * 80 + 2 * 6
    zoom_model = strip[-80:, 80 + 6 : 2 * 80 + 6]
    assert zoom_model.max() == 200  # the zoom shows the changed patch


def _prepare_script():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "prepare_datasets.py"
    spec = importlib.util.spec_from_file_location("prepare_datasets", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prepare_datasets_lr_matches_matlab(shared, tmp_path, capsys):
    prep = _prepare_script()
    hr = tmp_path / "Set5" / "HR"
    shutil.copytree(shared / "data" / "Set5" / "HR", hr)
    before = {p.name: p.read_bytes() for p in hr.iterdir()}
    assert prep.main(["lr", str(hr), "--scales", "3"]) == 0
    for p in sorted(hr.iterdir()):
        ours = cv2.imread(str(tmp_path / "Set5" / "LR_bicubic" / "X3" / f"{p.stem}x3.png"), cv2.IMREAD_UNCHANGED)
        ref = cv2.imread(str(shared / "data" / "Set5" / "LR_bicubic" / "X3" / f"{p.stem}x3.png"), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(ours, ref), p.name
    assert {p.name: p.read_bytes() for p in hr.iterdir()} == before  # inputs untouched
    assert prep.main(["lr", str(hr), "--scales", "3"]) == 0  # second run keeps what exists
    assert "0 written, 5 already present" in capsys.readouterr().out
    assert not list((tmp_path / "Set5").rglob("*.tmp"))


def test_prepare_datasets_subimages(tmp_path):
    prep = _prepare_script()
    # BasicSR rule: starts every `step`, plus a border-flush crop when the rest exceeds thresh_size
    assert prep.crop_starts(100, 48, 24, 0) == [0, 24, 48, 52]
    assert prep.crop_starts(100, 48, 24, 10) == [0, 24, 48]
    assert prep.crop_starts(40, 48, 24, 0) == []
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    img = np.random.default_rng(0).integers(0, 256, (100, 72, 3)).astype(np.uint8)
    cv2.imwrite(str(src / "a.png"), img)
    cv2.imwrite(str(src / "tiny.png"), img[:20, :20])
    assert prep.main(["subimages", str(src), str(dst), "--crop-size", "48", "--step", "24"]) == 0
    crops = sorted(p.name for p in dst.iterdir())
    assert len(crops) == 4 * 2 and crops[0] == "a_s001.png"  # rows [0,24,48,52] x cols [0,24]
    assert np.array_equal(cv2.imread(str(dst / "a_s008.png")), img[52:100, 24:72])
    with pytest.raises(SystemExit):
        prep.main(["subimages", str(src), str(src)])  # never writes into its input


def test_default_model_comes_from_the_zoo(shared, tmp_path, monkeypatch, capsys):
    import swinsr.zoo as zoo

    data = _small_dataset(shared, tmp_path / "Tiny")
    monkeypatch.setattr(zoo, "list_models", lambda: [])
    assert _run_cli(["benchmark", "-d", str(data), "-s", "2"]) == 2
    assert "no embedded default model for x2" in capsys.readouterr().err
    ckpt = shared / "fixtures" / "swinir" / "swinir_classical_x2.pth"
    entry = zoo.PretrainedModel(name="fixture-x2", file=str(ckpt), scale=2, default=True)
    monkeypatch.setattr(zoo, "list_models", lambda: [entry])
    (row,) = run_benchmark(None, [data], 2, device="cpu").results
    assert row["model"] == "fixture-x2" and row["images"] == 2


def test_16_bit_data_is_scored_on_the_16_bit_grid(shared, tmp_path):
    from swinsr.benchmark import bicubic_upscale

    root = tmp_path / "Deep"
    (root / "HR").mkdir(parents=True)
    img8 = cv2.imread(str(shared / "data" / "Set5" / "HR" / "head.png"))[40:88, 30:70]
    hr16 = cv2.GaussianBlur(img8.astype(np.uint16) * 257, (3, 3), 0)
    cv2.imwrite(str(root / "HR" / "head.png"), hr16)
    report = run_benchmark("bicubic", [root], 2, save_images=tmp_path / "sr")
    saved = read_eval_image(tmp_path / "sr" / "Deep" / "X2" / "head.png")
    assert saved.dtype == np.uint16
    hr = read_eval_image(root / "HR" / "head.png")
    expected = to_uint(bicubic_upscale(imresize(hr, 0.5), 2), bits=16)
    assert np.array_equal(saved, expected)
    assert report.per_image[0]["psnr_y"] == pytest.approx(calculate_psnr(expected, hr, 2, test_y_channel=True))
