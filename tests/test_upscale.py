"""swinsr.Upscaler and the upscale / restore / classify commands, with small random-weight fixture models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

import swinsr
from swinsr.cli import main
from swinsr.archs.contract import SRModel
from swinsr.errors import OptionError
from swinsr.imageio import read_image, write_image
from swinsr.inference import Upscaler, resolve_precision, self_ensemble
from swinsr.inference.classify import Classifier, imagenet_class_names, preprocess

RNG = np.random.default_rng(0)


def rand(shape, dtype=np.uint8):
    return RNG.integers(0, np.iinfo(dtype).max + 1, size=shape, dtype=np.int64).astype(dtype)


@pytest.fixture(scope="module")
def x2_path(shared) -> Path:
    return shared / "fixtures/swinir/swinir_classical_x2.pth"


@pytest.fixture(scope="module")
def x2_model(x2_path):
    return swinsr.load_model(x2_path)


def run_cli(args: list[str]) -> int:
    """Run ``swinsr ARGS`` in-process; returns the exit status."""
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


# ----------------------------------------------------------------------------- Python API
@pytest.mark.parametrize("shape", [(10, 12), (10, 12, 2), (10, 12, 3), (10, 12, 4)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_upscale_keeps_channel_layout_and_dtype(x2_model, shape, dtype):
    image = rand(shape, np.uint16).astype(np.float32) / 65535 if dtype == np.float32 else rand(shape, dtype)
    out = Upscaler(x2_model).upscale(image)
    assert out.shape == (20, 24) + shape[2:] and out.dtype == dtype


def test_upscale_tensor_is_the_clamped_model_output(x2_model):
    x = torch.rand(2, 3, 11, 13)
    up = Upscaler(x2_model)
    assert up.scale == 2
    y = up.upscale_tensor(x)
    with torch.no_grad():
        ref = x2_model(x).clamp(0, 1)
    assert y.shape == (2, 3, 22, 26) and y.dtype == torch.float32
    assert torch.allclose(y, ref, atol=1e-5)


def test_gray_images_go_through_an_rgb_model_as_replicated_channels(x2_model):
    gray = torch.rand(1, 1, 9, 10)
    with torch.no_grad():
        ref = x2_model(gray.expand(-1, 3, -1, -1)).mean(1, keepdim=True).clamp(0, 1)
    assert torch.allclose(Upscaler(x2_model).upscale_tensor(gray), ref, atol=1e-5)


def test_alpha_is_upscaled_separately_through_the_model_or_bicubic(x2_model):
    rgba = torch.rand(1, 4, 9, 10)
    up = Upscaler(x2_model)
    via_model = up.upscale_tensor(rgba)
    assert torch.allclose(via_model[:, :3], up.upscale_tensor(rgba[:, :3]), atol=1e-6)
    assert torch.allclose(via_model[:, 3:], up.upscale_tensor(rgba[:, 3:]), atol=1e-6)
    bicubic = Upscaler(x2_model, alpha="bicubic").upscale_tensor(rgba)[:, 3:]
    ref = F.interpolate(rgba[:, 3:], scale_factor=2, mode="bicubic", align_corners=False).clamp(0, 1)
    assert torch.allclose(bicubic, ref, atol=1e-6)


def test_gray_model_restores_colour_images_channel_by_channel(shared):
    model = swinsr.load_model(shared / "fixtures/swinir/swinir_gray_jpeg_car.pth")
    assert model.in_chans == 1 and model.upscale == 1
    x = torch.rand(1, 3, 14, 15)
    y = Upscaler(model).upscale_tensor(x)
    with torch.no_grad():
        ref = torch.cat([model(x[:, c : c + 1]) for c in range(3)], 1).clamp(0, 1)
    assert torch.allclose(y, ref, atol=1e-5)


def test_aux_models_return_the_sr_image(shared):
    model = swinsr.load_model(shared / "fixtures/swin2sr/swin2sr_compressed_x4_aux.pth")
    y = Upscaler(model).upscale_tensor(torch.rand(1, 3, 8, 9))
    assert y.shape == (1, 3, 32, 36)


def test_upscale_accepts_pil_images_paths_and_model_paths(x2_path, tmp_path):
    arr = rand((7, 8, 3))
    write_image(tmp_path / "in.png", arr)
    up = Upscaler(str(x2_path))
    from_array = up.upscale(arr)
    assert np.array_equal(up.upscale(Image.fromarray(arr)), from_array)
    assert np.array_equal(up.upscale(tmp_path / "in.png"), from_array)


def test_outscale_resizes_to_the_requested_factor(x2_model):
    up = Upscaler(x2_model)
    image = rand((10, 12, 3))
    assert up.upscale(image, outscale=3).shape == (30, 36, 3)
    assert up.upscale(image, outscale=1.5).shape == (15, 18, 3)
    with pytest.raises(OptionError, match="outscale"):
        up.upscale(image, outscale=0)


def test_self_ensemble_averages_the_eight_flips_and_rotations():
    x = torch.rand(1, 3, 6, 6)
    assert torch.allclose(self_ensemble(lambda t: F.interpolate(t, scale_factor=2), x), F.interpolate(x, scale_factor=2))

    ramp = torch.arange(6.0).view(1, 1, 1, 6)  # a forward that is not rotation invariant
    y = self_ensemble(lambda t: t + ramp, x)
    # the ramp seen through all 8 transforms averages to its mean over the dihedral group
    assert torch.allclose(y - x, torch.full_like(x, 2.5), atol=1e-6)


def test_ensemble_upscaler_runs_eight_passes(x2_model):
    calls = []
    handle = x2_model.register_forward_hook(lambda *a: calls.append(1))
    try:
        Upscaler(x2_model, ensemble=True).upscale_tensor(torch.rand(1, 3, 8, 10))
    finally:
        handle.remove()
    assert len(calls) == 8


class Overflowing(SRModel):
    """Finite in fp32, overflows in fp16 (as Swin SR activations can)."""

    size_multiple = 8

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1, bias=False)
        nn.init.constant_(self.conv.weight, 3e4)

    def forward(self, x):
        return self.conv(x) / 9e4


def test_fp16_falls_back_to_fp32_when_values_overflow():
    x = torch.ones(1, 3, 4, 4)
    up = Upscaler(Overflowing(), precision="fp16", device="cpu")
    y = up.upscale_tensor(x)
    assert torch.isfinite(y).all() and up.fp16_fallbacks == 1
    assert torch.allclose(y, torch.ones_like(y), atol=1e-4)


def test_precision_and_device_choices():
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert resolve_precision("fp16", torch.device("cpu")) == "fp16"
    with pytest.raises(OptionError, match="--precision"):
        resolve_precision("fp8", torch.device("cpu"))
    if not torch.cuda.is_available():
        with pytest.raises(OptionError, match="no CUDA"):
            Upscaler(Overflowing(), device="cuda")


def test_classifiers_are_refused_by_the_upscaler(shared):
    with pytest.raises(OptionError, match="classify"):
        Upscaler(swinsr.load_model(shared / "fixtures/swin_v1/swin_v1_tiny_w4.pth"))


# ----------------------------------------------------------------------------- swinsr upscale
def make_odd_inputs(folder: Path) -> dict[str, tuple]:
    """Odd but valid images -> (expected output shape at x2, dtype)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_image(folder / "rgba.png", rand((6, 7, 4)))
    write_image(folder / "gray16.png", rand((6, 7), np.uint16))
    write_image(folder / "rgb16.tif", rand((5, 6, 3), np.uint16))
    write_image(folder / "one.png", rand((1, 1, 3)))
    write_image(folder / "fötö 写真.png", rand((4, 5)))
    pal = Image.new("P", (5, 4))
    pal.putpalette(list(range(256)) * 3)
    pal.save(folder / "palette.png", transparency=0)
    Image.new("CMYK", (5, 4), (0, 255, 255, 0)).save(folder / "cmyk.jpg")
    rot = Image.fromarray(rand((4, 6, 3)))
    exif = rot.getexif()
    exif[0x0112] = 6
    rot.save(folder / "rotated.jpg", exif=exif)
    return {
        "rgba_x2.png": ((12, 14, 4), np.uint8),
        "gray16_x2.png": ((12, 14), np.uint16),
        "rgb16_x2.tif": ((10, 12, 3), np.uint16),
        "one_x2.png": ((2, 2, 3), np.uint8),
        "fötö 写真_x2.png": ((8, 10), np.uint8),
        "palette_x2.png": ((8, 10, 4), np.uint8),
        "cmyk_x2.jpg": ((8, 10, 3), np.uint8),
        "rotated_x2.jpg": ((12, 8, 3), np.uint8),
    }


def make_bad_inputs(folder: Path) -> list[Path]:
    good = rand((16, 16, 3))
    write_image(folder / "whole.png", good)
    data = (folder / "whole.png").read_bytes()
    (folder / "whole.png").unlink()
    (folder / "truncated.png").write_bytes(data[: len(data) // 2])
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.jpg").write_text("not an image")
    return [folder / "truncated.png", folder / "empty.png", folder / "text.jpg"]


def test_batch_handles_odd_inputs_and_bad_files_do_not_stop_it(x2_path, tmp_path, capsys):
    expected = make_odd_inputs(tmp_path / "in")
    bad = make_bad_inputs(tmp_path / "in")
    before = {p.name: p.read_bytes() for p in (tmp_path / "in").iterdir()}
    code = run_cli(["upscale", tmp_path / "in", "--model", x2_path])
    err = capsys.readouterr().err
    assert code == 1
    for name, (shape, dtype) in expected.items():
        out = read_image(tmp_path / "in" / name).array
        assert out.shape == shape and out.dtype == dtype, name
    for path in bad:
        assert path.name in err
        assert not list(path.parent.glob(path.stem + "_x2*"))
    assert "8 images upscaled" in err and "3 failed" in err
    assert "Traceback" not in err
    assert all((tmp_path / "in" / n).read_bytes() == b for n, b in before.items())  # inputs untouched


def test_inputs_are_never_overwritten(x2_path, tmp_path, capsys):
    src = tmp_path / "a.png"
    write_image(src, rand((6, 6, 3)))
    original = src.read_bytes()
    assert run_cli(["upscale", src, "-o", src, "--model", x2_path]) == 1
    assert run_cli(["upscale", src, "--suffix", "", "--model", x2_path, "--overwrite"]) == 1
    assert "would overwrite an input" in capsys.readouterr().err
    assert src.read_bytes() == original


def test_existing_outputs_are_skipped_unless_overwrite(x2_path, tmp_path, capsys):
    src = tmp_path / "a.png"
    write_image(src, rand((6, 6, 3)))
    out = tmp_path / "a_x2.png"
    out.write_bytes(b"keep me")
    assert run_cli(["upscale", src, "--model", x2_path]) == 0
    assert out.read_bytes() == b"keep me" and "skipped" in capsys.readouterr().err
    assert run_cli(["upscale", src, "--model", x2_path, "--overwrite", "--quiet"]) == 0
    assert read_image(out).array.shape == (12, 12, 3)
    assert capsys.readouterr().err == ""  # --quiet


def test_output_option_file_folder_ext_suffix_and_gif(x2_path, tmp_path):
    write_image(tmp_path / "a.png", rand((6, 6, 3)))
    write_image(tmp_path / "b.jpg", rand((6, 6, 3)))
    Image.fromarray(rand((6, 6, 3))).save(tmp_path / "c.gif")
    m = ["--model", x2_path, "-q"]
    # one input, -o a file: that file, in the format its extension names
    assert run_cli(["upscale", tmp_path / "a.png", "-o", tmp_path / "single.webp", *m]) == 0
    assert read_image(tmp_path / "single.webp").format == "WEBP"
    # one input, -o an existing folder: inside it, same stem, no suffix
    (tmp_path / "existing").mkdir()
    assert run_cli(["upscale", tmp_path / "a.png", "-o", tmp_path / "existing", *m]) == 0
    assert (tmp_path / "existing" / "a.png").exists()
    # several inputs: -o is a folder (created); GIF becomes PNG; --ext and --suffix apply
    assert run_cli(["upscale", tmp_path / "b.jpg", tmp_path / "c.gif", "-o", tmp_path / "new", *m]) == 0
    assert sorted(os.listdir(tmp_path / "new")) == ["b.jpg", "c.png"]
    assert run_cli(["upscale", tmp_path / "b.jpg", tmp_path / "c.gif", "-o", tmp_path / "t", "--ext", "tif",
                    "--suffix", "_big", *m]) == 0
    assert sorted(os.listdir(tmp_path / "t")) == ["b_big.tif", "c_big.tif"]


def test_recursive_folders_and_globs(x2_path, tmp_path):
    write_image(tmp_path / "src" / "top.png", rand((5, 5, 3)))
    write_image(tmp_path / "src" / "sub" / "deep.png", rand((5, 5, 3)))
    m = ["--model", x2_path, "-q"]
    assert run_cli(["upscale", tmp_path / "src", "-o", tmp_path / "flat", *m]) == 0
    assert sorted(os.listdir(tmp_path / "flat")) == ["top.png"]
    assert run_cli(["upscale", tmp_path / "src", "-o", tmp_path / "tree", "--recursive", *m]) == 0
    assert (tmp_path / "tree" / "sub" / "deep.png").exists()
    assert run_cli(["upscale", str(tmp_path / "src" / "*.png"), "-o", tmp_path / "glob", *m]) == 0
    assert sorted(os.listdir(tmp_path / "glob")) == ["top.png"]
    # running again on the folder does not upscale the earlier results
    assert run_cli(["upscale", tmp_path / "src", *m]) == 0
    assert run_cli(["upscale", tmp_path / "src", *m]) == 0
    assert sorted(os.listdir(tmp_path / "src")) == ["sub", "top.png", "top_x2.png"]


def test_outscale_and_tiling_options(x2_path, tmp_path):
    write_image(tmp_path / "a.png", rand((10, 12, 3)))
    assert run_cli(["upscale", tmp_path / "a.png", "--model", x2_path, "--outscale", "3", "--tile", "8",
                    "--tile-overlap", "4", "-q"]) == 0
    assert read_image(tmp_path / "a_x3.png").array.shape == (30, 36, 3)


def test_usage_errors_exit_2_with_a_clear_message(x2_path, tmp_path, capsys, monkeypatch):
    write_image(tmp_path / "a.png", rand((6, 6, 3)))
    assert run_cli(["upscale", tmp_path / "a.png", "--model", x2_path, "--scale", "4"]) == 2
    assert "upscales x2" in capsys.readouterr().err
    assert run_cli(["upscale", tmp_path / "a.png", "--model", x2_path, "--tile", "big"]) == 2
    assert run_cli(["upscale", tmp_path / "a.png", "--model", x2_path, "--precision", "fp8"]) == 2
    assert run_cli(["upscale", tmp_path / "a.png", "--model", x2_path, "--ext", "xyz"]) == 2
    assert run_cli(["upscale", tmp_path / "empty_dir_does_not_matter", "--model", x2_path]) == 1
    monkeypatch.setattr("swinsr.zoo.list_models", lambda: [])
    assert run_cli(["upscale", tmp_path / "a.png", "--scale", "4"]) == 2
    err = capsys.readouterr().err
    assert "no embedded default model for x4" in err and "--model" in err
    assert not (tmp_path / "a_x4.png").exists()


def test_cli_subprocess_exit_code_without_traceback(x2_path, tmp_path):
    write_image(tmp_path / "ok.png", rand((5, 5, 3)))
    cmd = [sys.executable, "-m", "swinsr", "upscale", "--model", str(x2_path)]
    done = subprocess.run(cmd + [str(tmp_path / "ok.png"), str(tmp_path / "missing.png")], capture_output=True, text=True)
    assert done.returncode == 1 and "missing.png" in done.stderr and "Traceback" not in done.stderr
    assert (tmp_path / "ok_x2.png").exists()


# ----------------------------------------------------------------------------- restore
def test_restore_runs_upscale_1_models_and_refuses_sr_models(shared, x2_path, tmp_path, capsys):
    write_image(tmp_path / "noisy.png", rand((9, 11, 3)))
    dn = shared / "fixtures/swinir/swinir_color_dn.pth"
    assert run_cli(["restore", tmp_path / "noisy.png", "--model", dn]) == 0
    assert read_image(tmp_path / "noisy_restored.png").array.shape == (9, 11, 3)
    assert "1 image restored" in capsys.readouterr().err
    assert run_cli(["restore", tmp_path / "noisy.png", "--model", x2_path]) == 2
    assert "swinsr upscale" in capsys.readouterr().err
    # the documentation-only --noise-sigma / --jpeg-quality flags are gone (the weights fix what a model removes)
    assert run_cli(["restore", tmp_path / "noisy.png", "--model", dn, "--jpeg-quality", "10"]) == 2


# ----------------------------------------------------------------------------- classify
def test_imagenet_class_list_is_shipped_in_the_package():
    names = imagenet_class_names()
    assert len(names) == 1000 and names[0] == "tench" and names[281] == "tabby"
    assert (Path(swinsr.__file__).parent / "resources" / "imagenet_classes.json").is_file()


def test_reference_preprocessing_resizes_crops_and_normalises():
    x = preprocess(np.full((300, 200, 3), 128, np.uint8), 64)
    assert x.shape == (3, 64, 64)
    expected = (128 / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    assert np.allclose(x.mean(dim=(1, 2)).numpy(), expected, atol=1e-4)
    assert preprocess(rand((40, 50), np.uint16), 32).shape == (3, 32, 32)  # gray 16-bit works too


def test_classify_prints_class_indices_for_non_imagenet_heads(shared, tmp_path, capsys):
    ckpt = shared / "fixtures/swin_v1/swin_v1_tiny_w4.pth"
    write_image(tmp_path / "a.png", rand((70, 90, 3)))
    write_image(tmp_path / "g.png", rand((50, 40)))
    assert run_cli(["classify", tmp_path / "a.png", tmp_path / "g.png", "--model", ckpt, "--topk", "3"]) == 0
    captured = capsys.readouterr()
    assert "10 classes, not the 1000 ImageNet classes" in captured.err
    assert captured.out.count("class ") == 6 and "1. class" in captured.out
    (tmp_path / "bad.png").write_text("no")
    assert run_cli(["classify", tmp_path / "bad.png", tmp_path / "a.png", "--model", ckpt]) == 1
    assert "bad.png" in capsys.readouterr().err
    assert run_cli(["classify", tmp_path / "a.png", "--model", shared / "fixtures/swinir/swinir_classical_x2.pth"]) == 2


def test_classifier_with_1000_classes_uses_imagenet_names():
    model = swinsr.SwinTransformer(img_size=32, patch_size=4, embed_dim=8, depths=[1], num_heads=[1], window_size=4,
                                   num_classes=1000)
    preds = Classifier(model).predict([rand((40, 40, 3))], topk=2)[0]
    assert len(preds) == 2 and preds[0].name == imagenet_class_names()[preds[0].index]
    assert preds[0].probability >= preds[1].probability


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_precisions_and_auto_tile(x2_model):
    import copy

    x = torch.rand(1, 3, 40, 48)
    cpu = Upscaler(copy.deepcopy(x2_model), device="cpu", tile=16, tile_overlap=8).upscale_tensor(x)
    fp32 = Upscaler(copy.deepcopy(x2_model), device="cuda", precision="fp32", tile=16, tile_overlap=8)
    assert torch.allclose(fp32.upscale_tensor(x), cpu, atol=1e-3)
    auto = Upscaler(copy.deepcopy(x2_model), device="cuda", tile="auto")
    assert auto.precision == "bf16"
    y = auto.upscale_tensor(x)
    assert y.shape == (1, 3, 80, 96) and torch.isfinite(y).all() and auto.last_tile is None


def test_cpu_tiles_run_one_per_batch_unless_asked(x2_model):
    # batching tiles was measured to give no speed-up on CPU, only memory (bench-speed --tiled)
    assert Upscaler(x2_model, tile=16, device="cpu")._pick_batch(16) == 1
    assert Upscaler(x2_model, tile=16, device="cpu", tile_batch=4)._pick_batch(16) == 4
    image = torch.rand(1, 3, 40, 40)
    single = Upscaler(x2_model, tile=16, device="cpu").upscale_tensor(image)
    batched = Upscaler(x2_model, tile=16, device="cpu", tile_batch=4).upscale_tensor(image)
    assert torch.allclose(single, batched, atol=1e-5)


@pytest.mark.slow
def test_compiled_upscaler_compiles_once_for_all_image_sizes(x2_model, shared, monkeypatch):
    import torch._dynamo
    from torch._dynamo.utils import counters

    from swinsr.metrics import psnr_torch

    photo = torch.from_numpy(read_image(shared / "data/Set5/LR_bicubic/X2/babyx2.png").array).permute(2, 0, 1)
    photo = photo[None].float() / 255
    sizes = [(77, 85), (49, 66), (20, 85)]  # the last is smaller than one uniform tile: run eagerly
    images = [photo[:, :, :h, :w] for h, w in sizes]
    opts = dict(tile=16, tile_overlap=8, device="cpu")
    torch._dynamo.reset()
    counters.clear()
    compiled = [Upscaler(x2_model, compile=True, **opts).upscale_tensor(x) for x in images]
    assert counters["stats"]["unique_graphs"] == 1  # one shape for every tile of every image
    # the same uniform tiles run eagerly: compilation changes nothing but rounding
    monkeypatch.setattr("swinsr.export.compile_model", lambda model, *a, **k: model)
    uniform = [Upscaler(x2_model, compile=True, **opts).upscale_tensor(x) for x in images]
    tiled = [Upscaler(x2_model, **opts).upscale_tensor(x) for x in images]
    whole = [Upscaler(x2_model, device="cpu").upscale_tensor(x) for x in images]
    for c, u, t, w, (h, wd) in zip(compiled, uniform, tiled, whole, sizes):
        assert c.shape == w.shape == (1, 3, 2 * h, 2 * wd)
        assert (c - u).abs().max() < 1e-4
        # uniform tiles only add context, so they are as close to the whole-image result as plain tiles
        assert float(psnr_torch(u, w, quantize=False)) > float(psnr_torch(t, w, quantize=False)) - 0.5
