"""``swinsr degrade``: naming, presets, reproducibility, skipping, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from swinsr.cli import main
from swinsr.data.degradation_datasets import jpeg_roundtrip
from swinsr.degradations.presets import Degrader, image_seed
from swinsr.imageio import read_image, write_image
from swinsr.imresize import bicubic_downscale


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # many small tensor ops: on a busy CPU extra intra-op threads only spin
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run_cli(args: list) -> int:
    try:
        main(["degrade", *(str(a) for a in args)])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture()
def hr_dir(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    root = tmp_path / "HR"
    root.mkdir()
    # smooth-ish content (noise on a gradient) so the degradations have something to blur
    yy, xx = np.mgrid[0:50, 0:42]
    for i, name in enumerate(["a", "b"]):
        base = np.stack([xx * 5, yy * 4, (xx + yy) * 3 + 40 * i], axis=-1)
        img = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
        write_image(root / f"{name}.png", img)
    write_image(root / "gray.png", np.clip(yy * 5 + xx, 0, 255).astype(np.uint8))
    return root


def test_realesrgan_preset_names_sizes_and_rerun_is_bit_identical(hr_dir, tmp_path, capsys):
    out = tmp_path / "LR"
    assert run_cli([hr_dir, "-o", out, "--scale", 4, "--seed", 3]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["ax4.png", "bx4.png", "grayx4.png"]
    a = read_image(out / "ax4.png").array
    assert a.shape == (12, 10, 3) and a.dtype == np.uint8  # 50x42 cropped to 48x40, then / 4
    assert read_image(out / "grayx4.png").array.shape == (12, 10, 3)
    err = capsys.readouterr().err
    assert "gray input degraded as RGB" in err and "3 images degraded" in err
    first = {n: (out / n).read_bytes() for n in names}
    assert run_cli([hr_dir, "-o", out, "--scale", 4, "--seed", 3, "--overwrite"]) == 0
    assert {n: (out / n).read_bytes() for n in names} == first
    # the file name seeds the image, not its position: b alone gives the same LR
    alone = tmp_path / "alone"
    assert run_cli([hr_dir / "b.png", "-o", alone, "--scale", 4, "--seed", 3]) == 0
    assert (alone / "bx4.png").read_bytes() == first["bx4.png"]
    other = tmp_path / "other"
    assert run_cli([hr_dir / "b.png", "-o", other, "--scale", 4, "--seed", 4]) == 0
    assert (other / "bx4.png").read_bytes() != first["bx4.png"]


def test_degrader_matches_the_cli(hr_dir, tmp_path):
    out = tmp_path / "LR"
    assert run_cli([hr_dir / "a.png", "-o", out, "--scale", 2, "-q"]) == 0
    hr = read_image(hr_dir / "a.png").array
    lr, notes = Degrader(2)(hr, image_seed(0, "a.png"))
    assert notes == [] and np.array_equal(read_image(out / "ax2.png").array, lr)
    assert image_seed(0, "a.png") != image_seed(1, "a.png") != image_seed(0, "b.png")


def test_bicubic_preset_and_jpeg(hr_dir, tmp_path):
    out = tmp_path / "bic"
    assert run_cli([str(hr_dir / "*.png"), "-o", out, "--scale", 3, "--preset", "bicubic", "-q"]) == 0
    hr = read_image(hr_dir / "a.png").array
    assert np.array_equal(read_image(out / "ax3.png").array, bicubic_downscale(hr, 3))
    assert read_image(out / "grayx3.png").array.ndim == 2  # bicubic keeps gray images gray
    jpg = tmp_path / "jpg"
    assert run_cli([hr_dir / "a.png", "-o", jpg, "--scale", 3, "--preset", "bicubic", "--jpeg", 40, "-q"]) == 0
    assert np.array_equal(read_image(jpg / "ax3.png").array, jpeg_roundtrip(bicubic_downscale(hr, 3), 40))


def test_existing_outputs_are_skipped_and_inputs_never_overwritten(hr_dir, tmp_path, capsys):
    out = tmp_path / "LR"
    assert run_cli([hr_dir / "a.png", "-o", out, "--scale", 2, "--preset", "bicubic"]) == 0
    (out / "ax2.png").write_bytes(b"keep me")
    assert run_cli([hr_dir / "a.png", "-o", out, "--scale", 2, "--preset", "bicubic"]) == 0
    assert (out / "ax2.png").read_bytes() == b"keep me" and "use --overwrite" in capsys.readouterr().err
    # an input named like another input's output is never written over
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.png").write_bytes((hr_dir / "a.png").read_bytes())
    (src / "ax2.png").write_bytes((hr_dir / "b.png").read_bytes())
    before = (src / "ax2.png").read_bytes()
    assert run_cli([src / "a.png", src / "ax2.png", "-o", src, "--scale", 2, "--preset", "bicubic"]) == 1
    assert (src / "ax2.png").read_bytes() == before
    assert "would overwrite an input" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["missing.png", "--scale", 4], 1, "missing.png: no such file or folder"),
        (["{hr}", "--scale", 0], 2, "--scale 0"),
        (["{hr}", "--scale", 4, "--jpeg", 0], 2, "--jpeg 0"),
        (["{hr}", "--scale", 4, "--preset", "nearest"], 2, "--preset nearest"),
    ],
)
def test_errors_are_one_line(hr_dir, tmp_path, capsys, args, code, message):
    args = [str(a).replace("{hr}", str(hr_dir / "a.png")) for a in args]
    assert run_cli([*args, "-o", tmp_path / "out"]) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("error")] == [next(
        line for line in err.splitlines() if message in line)]


def test_too_small_image_fails_with_its_path(tmp_path, capsys):
    write_image(tmp_path / "tiny.png", np.zeros((3, 3, 3), np.uint8))
    assert run_cli([tmp_path / "tiny.png", "-o", tmp_path / "out", "--scale", 4]) == 1
    assert "tiny.png: image 3x3 is smaller than the scale 4" in capsys.readouterr().err


def test_help(capsys):
    assert run_cli(["--help"]) == 0
    assert "--preset" in capsys.readouterr().out
