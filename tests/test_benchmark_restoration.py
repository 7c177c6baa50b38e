"""swinsr benchmark --task denoise|jpeg (SwinIR's protocol), restore --task defaults, and SR --lr-dir.

The identity baselines are checked against an independent re-derivation of the protocol written
here with cv2 + numpy only (reading, seeded noise, OpenCV JPEG, float32 rounding, PSNR, SSIM,
PSNR-B), not against the benchmark's own helpers.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import swinsr
from swinsr.errors import OptionError
from swinsr.metrics import blocking_effect_factor, calculate_psnr, calculate_psnrb
from swinsr.restoration_benchmark import add_noise, mirror_pad, parse_levels, read_clean, run_restoration_benchmark


def _run_cli(args: list[str]) -> int:
    from swinsr.cli import main

    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return int(exc.value.code or 0)


# ----------------------------------------------------------------------------- independent protocol
# BT.601 studio-swing luma from B, G, R in [0, 1] (the reference's bgr2ycbcr weights)
B_W, G_W, R_W = 24.966, 128.553, 65.481


def ref_clean(path: Path, task: str, gray: bool) -> np.ndarray:
    if not gray:
        return cv2.imread(str(path), cv2.IMREAD_COLOR)
    if task == "denoise":
        return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img.ndim == 3:  # bgr2ycbcr(y_only=True) on uint8: float32 / 255, dot, + 16, round
        f = img.astype(np.float32) / 255.0
        img = (f[..., 0] * np.float64(B_W) + f[..., 1] * np.float64(G_W) + f[..., 2] * np.float64(R_W) + 16.0)
        img = img.round().astype(np.uint8)
    return img


def ref_output(clean: np.ndarray, task: str, level: int) -> np.ndarray:
    """The identity method's uint8 output: the degraded input, clamped and rounded in float32."""
    if task == "denoise":
        gt = clean.astype(np.float32) / 255.0
        np.random.seed(seed=0)
        lq = (gt + np.random.normal(0, level / 255.0, gt.shape)).astype(np.float32)  # .float() of the float64 sum
    else:
        _, enc = cv2.imencode(".jpg", clean, [int(cv2.IMWRITE_JPEG_QUALITY), level])
        lq = cv2.imdecode(enc, 0 if clean.ndim == 2 else 1).astype(np.float32) / 255.0
    return (np.clip(lq, 0, 1) * 255.0).round().astype(np.uint8)


def ref_y(bgr: np.ndarray) -> np.ndarray:
    f = bgr.astype(np.float64)
    return (f[..., 0] * B_W + f[..., 1] * G_W + f[..., 2] * R_W) / 255.0 + 16.0


def ref_psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 20 * math.log10(255.0 / math.sqrt(mse))


def ref_ssim(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    chans = [(a, b)] if a.ndim == 2 else [(a[..., c], b[..., c]) for c in range(a.shape[2])]
    k = cv2.getGaussianKernel(11, 1.5)
    win = k @ k.T
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for x, y in chans:
        f = lambda im: cv2.filter2D(im, -1, win)[5:-5, 5:-5]  # noqa: E731
        mx, my = f(x), f(y)
        sxx, syy, sxy = f(x * x) - mx**2, f(y * y) - my**2, f(x * y) - mx * my
        vals.append(np.mean((2 * mx * my + c1) * (2 * sxy + c2) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))))
    return float(np.mean(vals))


def ref_bef(im: np.ndarray) -> float:
    """Blocking-effect factor, written from the PSNR-B definition with the reference's counts."""
    h, w = im.shape
    cols = set(range(7, w - 1, 8))
    rows = set(range(7, h - 1, 8))
    d_b = sum(float(np.sum((im[:, j] - im[:, j + 1]) ** 2)) for j in cols)
    d_b += sum(float(np.sum((im[i, :] - im[i + 1, :]) ** 2)) for i in rows)
    d_n = sum(float(np.sum((im[:, j] - im[:, j + 1]) ** 2)) for j in range(w - 1) if j not in cols)
    d_n += sum(float(np.sum((im[i, :] - im[i + 1, :]) ** 2)) for i in range(h - 1) if i not in rows)
    n_b = h * (w // 8 - 1) + w * (h // 8 - 1)
    n_n = h * (w - 1) + w * (h - 1) - n_b
    b, n = d_b / n_b, d_n / n_n
    return 0.0 if b <= n else math.log2(8) / math.log2(min(h, w)) * (b - n)


def ref_psnrb(out: np.ndarray, gt: np.ndarray) -> float:
    o, g = out.astype(np.float64) / 255.0, gt.astype(np.float64) / 255.0
    chans = [(o, g)] if o.ndim == 2 else [(o[..., c], g[..., c]) for c in range(o.shape[2])]
    return float(np.mean([10 * math.log10(1 / (np.mean((x - y) ** 2) + ref_bef(x))) for x, y in chans]))


def ref_identity_row(folder: Path, task: str, level: int, gray: bool) -> dict[str, float]:
    per: dict[str, list[float]] = {}
    for path in sorted(folder.iterdir()):
        clean = ref_clean(path, task, gray)
        out = ref_output(clean, task, level)
        vals = {"psnr": ref_psnr(out, clean), "ssim": ref_ssim(out, clean)}
        if not gray:
            vals["psnr_y"] = ref_psnr(ref_y(out), ref_y(clean))
            vals["ssim_y"] = ref_ssim(ref_y(out), ref_y(clean))
        if task == "jpeg":
            vals["psnrb"] = ref_psnrb(out, clean)
        for k, v in vals.items():
            per.setdefault(k, []).append(v)
    return {k: float(np.mean(v)) for k, v in per.items()}


IDENTITY_CASES = [
    ("McMaster", "denoise", 25, False),
    ("Set12", "denoise", 15, True),
    ("classic5", "jpeg", 10, True),
    pytest.param("LIVE1", "jpeg", 10, False, marks=pytest.mark.slow),  # 29 colour images: ~20 s of reference SSIM
]


@pytest.mark.parametrize("dataset,task,level,gray", IDENTITY_CASES)
def test_identity_baseline_equals_independent_protocol(shared, dataset, task, level, gray):
    folder = shared / "data" / "restoration" / dataset
    (row,) = run_restoration_benchmark("identity", [folder], task, [level], color="gray" if gray else "rgb").results
    expected = ref_identity_row(folder, task, level, gray)
    assert row["images"] == len(list(folder.iterdir())) and row["model"] == "identity"
    assert row[{"denoise": "noise", "jpeg": "quality"}[task]] == level
    assert set(expected) <= set(row)
    for key, value in expected.items():
        assert row[key] == pytest.approx(value, abs=1e-6), key
    if gray:
        assert "psnr_y" not in row
    if task == "jpeg" and not gray:
        assert row["psnrb_y"] < row["psnr_y"]


def test_classic5_jpeg_baseline_is_the_published_one(shared):
    # JPEG rows of the ARCNN / QGAC / SwinIR tables for classic5 (PSNR / SSIM / PSNR-B)
    published = {10: (27.82, 0.7595, 25.21), 20: (30.12, 0.8344, 27.50), 30: (31.48, 0.8666, 28.94), 40: (32.43, 0.8849, 29.92)}
    report = run_restoration_benchmark("identity", [shared / "data/restoration/classic5"], "jpeg", color="gray")
    assert [r["quality"] for r in report.results] == [10, 20, 30, 40]  # the default levels, one row each
    for r in report.results:
        psnr, ssim, psnrb = published[r["quality"]]
        assert (round(r["psnr"], 2), round(r["ssim"], 4), round(r["psnrb"], 2)) == (psnr, ssim, psnrb)


# ----------------------------------------------------------------------------- PSNR-B by hand
def test_psnrb_hand_checked_blocking_case():
    # 16x16: left 8 columns 100, right 8 columns 120 -> one vertical block boundary (col 7 | col 8);
    # clean image flat 110, so MSE = (10/255)^2.
    out = np.full((16, 16), 100, np.uint8)
    out[:, 8:] = 120
    clean = np.full((16, 16), 110, np.uint8)
    # boundary steps: 16 rows x (20/255)^2 over 16 + 16 boundary positions; the other 448 steps are 0;
    # BEF = log2(8)/log2(16) * (16 * (20/255)^2 / 32) = 0.75 * 200 / 65025 = 150 / 65025
    assert blocking_effect_factor(out / 255.0) == pytest.approx(150 / 65025, rel=1e-12)
    assert calculate_psnr(out, clean, 0) == pytest.approx(10 * math.log10(65025 / 100), abs=1e-9)
    assert calculate_psnrb(out, clean, 0) == pytest.approx(10 * math.log10(65025 / 250), abs=1e-9)  # 24.151 dB
    # the factor is measured on the restored (first) image: a flat first image has none
    assert calculate_psnrb(clean, out, 0) == pytest.approx(calculate_psnr(clean, out, 0), abs=1e-9)
    # steps at the boundaries no larger than elsewhere -> no penalty
    stripes = np.tile(np.array([100, 120], np.uint8), (16, 8))
    assert blocking_effect_factor(stripes / 255.0) == 0.0
    assert calculate_psnrb(stripes, clean, 0) == pytest.approx(calculate_psnr(stripes, clean, 0), abs=1e-9)
    # colour: the mean of the per-channel values (channel 0 blocky, 1 and 2 equal to the clean one + 10)
    rgb_out = np.stack([out, clean + 10, clean + 10], axis=2)
    rgb_clean = np.stack([clean] * 3, axis=2)
    per = [10 * math.log10(65025 / 250), 10 * math.log10(65025 / 100), 10 * math.log10(65025 / 100)]
    assert calculate_psnrb(rgb_out, rgb_clean, 0) == pytest.approx(np.mean(per), abs=1e-9)
    with pytest.raises(OptionError, match="16x16"):
        blocking_effect_factor(np.zeros((12, 40)))


def test_psnrb_matches_the_definition_on_sizes_that_are_not_block_multiples():
    rng = np.random.default_rng(3)
    gt = rng.integers(0, 256, (27, 34, 3)).astype(np.uint8)
    out = gt.copy()
    out[:, 8::8] = np.clip(out[:, 8::8].astype(int) + 40, 0, 255)  # rough steps at the boundaries
    assert blocking_effect_factor(out[..., 0] / 255.0) > 0
    assert calculate_psnrb(out, gt, 0) == pytest.approx(ref_psnrb(out, gt), abs=1e-9)


# ----------------------------------------------------------------------------- noise
def test_noise_is_numpy_seed_0_normal_unclipped_and_leaves_the_global_rng_alone(shared):
    clean = cv2.imread(str(shared / "data/restoration/McMaster/1.png"))
    np.random.seed(0)
    expected = (clean.astype(np.float32) / 255.0 + np.random.normal(0, 25 / 255.0, clean.shape)).astype(np.float32)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    got = add_noise(clean, 25)
    assert got.dtype == np.float32 and np.array_equal(got, expected)
    assert np.array_equal(add_noise(clean, 25), got)  # the same for every call (and every image position)
    assert np.array_equal(np.random.get_state()[1], before)
    assert got.min() < 0 and got.max() > 1  # not clipped before the model
    assert np.array_equal(add_noise(clean, 0), clean.astype(np.float32) / np.float32(255))


def test_saved_identity_outputs_are_the_protocol_images(shared, tmp_path):
    folder = tmp_path / "Two"
    folder.mkdir()
    for name in ("1.png", "2.png"):
        img = cv2.imread(str(shared / "data/restoration/McMaster" / name))[:40, :48]
        cv2.imwrite(str(folder / name), img)
    run_restoration_benchmark("identity", [folder], "denoise", [50], save_images=tmp_path / "out")
    for name in ("1.png", "2.png"):
        saved = cv2.imread(str(tmp_path / "out/Two/noise50" / name))
        assert np.array_equal(saved, ref_output(cv2.imread(str(folder / name)), "denoise", 50))


# ----------------------------------------------------------------------------- models
def _tiny_model(path: Path, *, in_chans: int = 3, window: int = 8, upscale: int = 1) -> Path:
    """A random SwinIR with its weights moved far from the initialisation (so padding matters)."""
    torch.manual_seed(1)
    model = swinsr.SwinIR(
        upscale=upscale, in_chans=in_chans, img_size=16, window_size=window, img_range=1., depths=[2], embed_dim=12,
        num_heads=[2], mlp_ratio=2, upsampler="" if upscale == 1 else "pixelshuffledirect", resi_connection="1conv",
    )
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    swinsr.save_checkpoint(model, path)
    return path


def _crops(shared: Path, root: Path, dataset: str, names: tuple[str, ...], size=(37, 45)) -> Path:
    root.mkdir(parents=True)
    for name in names:
        img = cv2.imread(str(shared / "data/restoration" / dataset / name), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(root / name), img[60 : 60 + size[0], 70 : 70 + size[1]])
    return root


def _expected_model_psnr(ckpt: Path, lq_bgr: np.ndarray, clean: np.ndarray, window: int) -> float:
    """The reference loop: mirror-pad to (h // ws + 1) * ws, run, crop, clamp, round in float32."""
    model = swinsr.load_model(ckpt)
    lq = lq_bgr[..., None] if lq_bgr.ndim == 2 else lq_bgr[..., ::-1]
    h, w = lq.shape[:2]
    ph, pw = (h // window + 1) * window - h, (w // window + 1) * window - w
    padded = np.pad(lq, ((0, ph), (0, pw), (0, 0)), mode="symmetric")
    with torch.no_grad():
        out = model(torch.from_numpy(np.ascontiguousarray(padded.transpose(2, 0, 1)))[None].float())
    out = out[0, :, :h, :w].clamp(0, 1).numpy()
    out = (out.transpose(1, 2, 0)[..., ::-1] * 255.0).round().astype(np.uint8)
    return ref_psnr(out.squeeze(), clean)


def test_model_rows_follow_the_reference_loop(shared, tmp_path, capsys):
    ckpt = _tiny_model(tmp_path / "dn.safetensors")
    data = _crops(shared, tmp_path / "Mc", "McMaster", ("1.png", "2.png"))
    out = tmp_path / "out"
    code = _run_cli([
        "benchmark", "--task", "denoise", "--noise", "15,50", "-m", ckpt, "-d", data, "--json", out / "r.json",
        "--csv", out / "r.csv", "--report", out / "report", "--device", "cpu",
    ])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "PSNR-Y" in captured.out and "denoising" in captured.out
    doc = json.loads((out / "r.json").read_text())
    assert [(r["task"], r["noise"], r["color"], r["model"]) for r in doc["results"]] == [
        ("denoise", 15, "rgb", "dn"), ("denoise", 50, "rgb", "dn")]
    assert set(doc["results"][0]) == {"dataset", "task", "noise", "color", "model", "psnr", "ssim", "psnr_y", "ssim_y",
                                      "images", "seconds", "peak_mem_mb"}
    for r in doc["per_image"]:
        clean = cv2.imread(str(data / f"{r['image']}.png"))
        np.random.seed(0)
        lq = (clean.astype(np.float32) / 255.0 + np.random.normal(0, r["noise"] / 255.0, clean.shape)).astype(np.float32)
        assert r["psnr"] == pytest.approx(_expected_model_psnr(ckpt, lq, clean, 8), abs=1e-4)
    header = (out / "r.csv").read_text().splitlines()[0]
    assert header == "dataset,task,noise,color,model,psnr,ssim,psnr_y,ssim_y,images,seconds,peak_mem_mb"
    md = (out / "report" / "report.md").read_text()
    assert "degraded | restored | clean" in md and "| Mc | sigma 15 (rgb) | dn |" in md
    strip = cv2.imread(str(out / "report" / "Mc_noise50" / "1.png"))
    assert strip.shape[1] == 3 * 45 + 2 * 6  # three panels


def test_an_out_of_memory_retry_in_tiles_is_recorded_and_said(shared, tmp_path, monkeypatch):
    from swinsr.inference.upscaler import Upscaler

    ckpt = _tiny_model(tmp_path / "dn.safetensors")
    data = _crops(shared, tmp_path / "Mc", "McMaster", ("1.png",))
    real = Upscaler._forward_any_channels

    def forward(self, x):  # the whole image "does not fit"; tiles do
        if self.last_tile is None:
            raise torch.OutOfMemoryError("CPU out of memory (simulated)")
        return real(self, x)

    monkeypatch.setattr(Upscaler, "_forward_any_channels", forward)
    said: list[str] = []
    report = run_restoration_benchmark(str(ckpt), [data], "denoise", [25], device="cpu", log=said.append)
    (row,) = report.per_image
    assert isinstance(row["tile"], int)
    assert any("did not fit in memory whole" in line and f"{row['tile']}-pixel tiles" in line for line in said)


def test_gray_jpeg_model_with_window_7(shared, tmp_path):
    ckpt = _tiny_model(tmp_path / "car.pth", in_chans=1, window=7)
    data = _crops(shared, tmp_path / "c5", "classic5", ("barbara.png",), size=(40, 33))
    report = run_restoration_benchmark(str(ckpt), [data], "jpeg", [20], color="gray", device="cpu",
                                       report_dir=tmp_path / "rep", save_images=tmp_path / "out")
    (row,) = report.per_image
    assert set(row) >= {"psnr", "ssim", "psnrb"} and "psnr_y" not in row and row["quality"] == 20
    assert row["tile"] is None  # scored whole, as the protocol
    clean = cv2.imread(str(data / "barbara.png"), cv2.IMREAD_UNCHANGED)
    _, enc = cv2.imencode(".jpg", clean, [int(cv2.IMWRITE_JPEG_QUALITY), 20])
    lq = cv2.imdecode(enc, 0).astype(np.float32) / 255.0
    assert row["psnr"] == pytest.approx(_expected_model_psnr(ckpt, lq, clean, 7), abs=1e-4)
    assert (tmp_path / "rep" / "c5_jpeg20_gray" / "barbara.png").is_file()
    saved = cv2.imread(str(tmp_path / "out" / "c5" / "jpeg20_gray" / "barbara.png"), cv2.IMREAD_UNCHANGED)
    assert saved.shape == clean.shape and calculate_psnr(saved, clean, 0) == pytest.approx(row["psnr"])


def test_mirror_pad_is_the_reference_flip_padding():
    x = torch.arange(2 * 5 * 9, dtype=torch.float32).reshape(1, 2, 5, 9)
    padded = mirror_pad(x, 4)
    assert padded.shape[-2:] == (8, 12)  # (5 // 4 + 1) * 4, (9 // 4 + 1) * 4: a full window more on a multiple
    ref = torch.cat([x, torch.flip(x, [2])], 2)[:, :, :8]
    ref = torch.cat([ref, torch.flip(ref, [3])], 3)[:, :, :, :12]
    assert torch.equal(padded, ref)
    assert mirror_pad(torch.ones(1, 1, 3, 3), 8).shape[-2:] == (8, 8)  # smaller than the pad: repeated
    # already a multiple: the reference still adds a whole window (not a ceil to the multiple)
    exact = torch.arange(8 * 16, dtype=torch.float32).reshape(1, 1, 8, 16)
    padded = mirror_pad(exact, 8)
    assert padded.shape[-2:] == (16, 24)
    assert torch.equal(padded[..., 8:, :16], torch.flip(exact, [2]))


def test_gray_jpeg_of_a_colour_file_is_its_rounded_studio_swing_y(tmp_path):
    # the reference: util_calculate_psnr_ssim.bgr2ycbcr(uint8 image, y_only=True): float32 / 255, the
    # BT.601 weights in 8-bit units, + 16, rounded back to uint8
    rng = np.random.default_rng(3)
    bgr = rng.integers(0, 256, (9, 13, 3), dtype=np.uint8)
    path = tmp_path / "colour.png"
    cv2.imwrite(str(path), bgr)
    img = bgr.astype(np.float32) / 255.0
    want = (np.dot(img, [24.966, 128.553, 65.481]) + 16.0).round().astype(np.uint8)  # B, G, R weights
    got = read_clean(path, "jpeg", "gray")
    assert got.dtype == np.uint8 and got.shape == (9, 13)
    assert np.array_equal(got, want)
    assert not np.array_equal(got, cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))  # not OpenCV's full-range gray


# ----------------------------------------------------------------------------- defaults and errors
def test_task_defaults_come_from_the_registry(shared, tmp_path, monkeypatch, capsys):
    import swinsr.zoo as zoo

    data = _crops(shared, tmp_path / "Mc", "McMaster", ("3.png",))
    monkeypatch.setattr(zoo, "list_models", lambda: [])
    assert _run_cli(["benchmark", "--task", "denoise", "--noise", "25", "-d", data]) == 2
    assert "swinsr-denoise is not registered in swinsr/weights/registry.json" in capsys.readouterr().err
    assert _run_cli(["restore", data / "3.png", "--task", "jpeg"]) == 2
    assert "swinsr-dejpeg is not registered" in capsys.readouterr().err

    ckpt = _tiny_model(tmp_path / "tiny.safetensors")
    entries = [
        zoo.PretrainedModel(name="swinsr-denoise", file=str(ckpt), scale=1, task="denoise", default=True),
        zoo.PretrainedModel(name="swinsr-dejpeg", file=str(ckpt), scale=1, task="jpeg", default=True),
        zoo.PretrainedModel(name="sr-x2", file=str(shared / "fixtures/swinir/swinir_classical_x2.pth"), scale=2,
                            default=True),
    ]
    monkeypatch.setattr(zoo, "list_models", lambda: entries)
    (row,) = run_restoration_benchmark(None, [data], "denoise", [25], device="cpu").results
    assert row["model"] == "swinsr-denoise"
    (row,) = run_restoration_benchmark(None, [data], "jpeg", [10], device="cpu").results
    assert row["model"] == "swinsr-dejpeg" and "psnrb" in row and "psnrb_y" in row
    assert _run_cli(["restore", data / "3.png", "--task", "denoise", "-o", tmp_path / "dn.png"]) == 0
    assert "swinsr-denoise" in capsys.readouterr().err and (tmp_path / "dn.png").is_file()
    # an explicit --model wins over --task
    assert _run_cli(["restore", data / "3.png", "--task", "jpeg", "-m", ckpt, "-o", tmp_path / "m.png"]) == 0
    assert "swinsr-dejpeg" not in capsys.readouterr().err
    assert _run_cli(["restore", data / "3.png"]) == 2
    assert "--task denoise|jpeg" in capsys.readouterr().err
    assert _run_cli(["restore", data / "3.png", "--task", "deblur"]) == 2


def test_cli_usage_errors(shared, tmp_path, capsys):
    data = _crops(shared, tmp_path / "Mc", "McMaster", ("3.png",))
    x2 = shared / "fixtures/swinir/swinir_classical_x2.pth"
    cases = [
        (["--task", "denoise", "-m", x2], "upscales x2"),
        (["--task", "denoise", "-m", "identity", "--quality", "10"], "--quality applies to --task jpeg"),
        (["--task", "jpeg", "-m", "identity", "--noise", "25"], "--noise applies to --task denoise"),
        (["--task", "jpeg", "-m", "identity", "--quality", "0"], "within 1-100"),
        (["--task", "jpeg", "-m", "identity", "--quality", "10.5"], "integer"),
        (["--task", "denoise", "-m", "identity", "--noise", "15,x"], "not a number"),
        (["--task", "denoise", "-m", "identity", "--noise", "300"], "within 0-255"),
        (["--task", "denoise", "-m", "identity", "--color", "yuv"], "--color yuv"),
        (["--task", "denoise", "-m", "identity", "--scale", "2"], "--scale 2"),
        (["--task", "denoise", "-m", "identity", "--lr-dir", "LR_x"], "--lr-dir applies to --task sr"),
        (["--task", "denoise", "-m", "bicubic"], "--model identity"),
        (["--task", "blur", "-m", "identity"], "--task blur"),
        (["-m", "identity", "--scale", "2"], "restoration baseline"),
        (["-m", "bicubic"], "needs --scale"),
        (["-m", "bicubic", "--scale", "2", "--noise", "25"], "--noise applies to --task denoise/jpeg"),
    ]
    for args, message in cases:
        assert _run_cli(["benchmark", "-d", data, *args]) == 2, args
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (args, err)
    assert parse_levels("denoise", None) == [15, 25, 50] and parse_levels("jpeg", "40,10,40") == [40, 10]


# ----------------------------------------------------------------------------- SR: other LR folders
SET14_REAL_BICUBIC_PSNR_Y = 22.1926  # measured here; issue 11 quotes 22.20


def test_real_lr_folder_is_auto_detected_and_named(shared):
    data = shared / "data" / "Set14_realx4"
    (auto,) = run_benchmark_bicubic(data).results
    (named,) = run_benchmark_bicubic(data, lr_dir="LR_realesrgan").results
    assert auto["lr"] == named["lr"] == "LR_realesrgan" and auto["images"] == 14
    assert auto["psnr_y"] == pytest.approx(SET14_REAL_BICUBIC_PSNR_Y, abs=0.005)
    assert named["psnr_y"] == auto["psnr_y"]


def run_benchmark_bicubic(data: Path, **kw):
    from swinsr.benchmark import run_benchmark

    return run_benchmark("bicubic", [data], 4, **kw)


def test_lr_dir_choice_errors_and_lr_model_hr_report(shared, tmp_path, capsys):
    from swinsr.benchmark import find_dataset, nearest_upscale

    src = shared / "data" / "Set14_realx4"
    data = tmp_path / "Real"
    for sub in ("HR", "LR_realesrgan/X4"):
        (data / sub).mkdir(parents=True)
    for stem in ("comic", "zebra"):
        hr = cv2.imread(str(src / "HR" / f"{stem}.png"))[:64, :48]
        lr = cv2.imread(str(src / "LR_realesrgan/X4" / f"{stem}x4.png"))[:16, :12]
        cv2.imwrite(str(data / "HR" / f"{stem}.png"), hr)
        cv2.imwrite(str(data / "LR_realesrgan/X4" / f"{stem}x4.png"), lr)
    with pytest.raises(OptionError, match="LR folders for x4: LR_realesrgan"):
        find_dataset(data, 4, lr_dir="LR_other")
    shutil.copytree(data / "LR_realesrgan", data / "LR_other")
    with pytest.raises(OptionError, match="choose one with --lr-dir"):
        find_dataset(data, 4)
    assert find_dataset(data, 4, lr_dir="LR_other").lr_name == "LR_other"
    shutil.copytree(data / "LR_realesrgan", data / "LR_bicubic")  # LR_bicubic present: it is the default
    assert find_dataset(data, 4).lr_name == "LR_bicubic"
    shutil.rmtree(data / "LR_bicubic")
    shutil.rmtree(data / "LR_other")

    ckpt = _tiny_model(tmp_path / "sr4.safetensors", upscale=4)
    out = tmp_path / "rep"
    assert _run_cli(["benchmark", "-m", ckpt, "-d", data, "-s", "4", "--lr-dir", "LR_realesrgan", "--report", out,
                     "--json", tmp_path / "r.json", "--device", "cpu"]) == 0
    assert "LR LR_realesrgan" in capsys.readouterr().out
    (row,) = json.loads((tmp_path / "r.json").read_text())["results"]
    assert row["lr"] == "LR_realesrgan" and row["model"] == "sr4"
    md = (out / "report.md").read_text()
    assert "LR (enlarged by pixel repetition) | model | HR" in md and "LR read from LR_realesrgan" in md
    strip = cv2.imread(str(out / "Real_x4" / "comic.png"))
    assert strip.shape[1] == 3 * 48 + 2 * 6
    lr = cv2.imread(str(data / "LR_realesrgan/X4/comicx4.png"))
    zoom_h = 48  # the zoom is shown at panel width below the full view
    full_lr = strip[26 : 26 + 64, :48]
    enlarged = nearest_upscale(lr, 4)
    # the LR panel is the LR enlarged by repetition (outside the red box drawn on it)
    untouched = np.all(full_lr == enlarged, axis=2).mean()
    assert untouched > 0.6 and strip.shape[0] == 26 + 64 + 6 + zoom_h


def test_markdown_report_carries_the_y_channel_psnrb_of_colour_jpeg_rows():
    from swinsr.benchmark import BenchmarkReport
    from swinsr.restoration_benchmark import render_restoration_markdown

    row = {"dataset": "LIVE1", "task": "jpeg", "quality": 10, "color": "rgb", "model": "m", "psnr": 26.5, "ssim": 0.78,
           "psnr_y": 27.75, "ssim_y": 0.8, "psnrb": 26.25, "psnrb_y": 27.125, "images": 29, "seconds": 1.5}
    md = render_restoration_markdown(BenchmarkReport(results=[row]), {})
    header = next(line for line in md.splitlines() if line.startswith("| dataset"))
    line = next(line for line in md.splitlines() if line.startswith("| LIVE1"))
    cells = dict(zip(header.strip("|").split("|"), line.strip("|").split("|")))
    cells = {k.strip(): v.strip() for k, v in cells.items()}
    assert cells["PSNR-B"] == "26.250" and cells["PSNR-B-Y"] == "27.125" and cells["images"] == "29"
    gray = dict(row, color="gray")
    for key in ("psnr_y", "ssim_y", "psnrb_y"):
        gray.pop(key)
    assert "| 26.250 | - | 29 |" in render_restoration_markdown(BenchmarkReport(results=[gray]), {})
