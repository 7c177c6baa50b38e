"""The speed benchmark's measurements: fresh-process peak memory, tiled memory, training step, report."""

from __future__ import annotations

import pytest
import torch

from swinsr.errors import OptionError
from swinsr.speed import Result, bench_tiled_memory, bench_train_step, cpu_peak_memory

CPU = torch.device("cpu")

pytestmark = pytest.mark.skipif(
    not __import__("pathlib").Path("/proc/self/clear_refs").exists(), reason="CPU peak memory needs Linux /proc"
)


def _inference_peak(size: int) -> float:
    peak = cpu_peak_memory(dict(kind="inference", model="swinir-s-x4", size=size, mode="eager", threads=1))
    assert peak is not None, "the memory child failed"
    return peak


@pytest.mark.slow
def test_peak_memory_follows_the_input_size():
    small, large = _inference_peak(16), _inference_peak(128)
    # 64x more pixels: attention logits alone are ~25 MB at 128x128 for SwinIR-S
    assert large > small + 20, (small, large)


@pytest.mark.slow
def test_tiled_working_memory_stays_flat_as_the_image_grows():
    # one tile per batch: the working memory is one tile's, whatever the image size (the
    # Upscaler's default batches up to 16 tiles, so it grows until the batch is full)
    rows = bench_tiled_memory("swinir-s-x4", [256, 512], tile=16, tile_overlap=8, tile_batch=1, device=CPU)
    assert [r.output_mb for r in rows] == pytest.approx([0.75, 3.0])
    assert rows[1].model == "swinir-s-x4 tiled 16 batch 1"
    working = [r.peak_mb - r.output_mb for r in rows]
    assert working[1] < 1.2 * working[0] + 3, working
    # without tiles the same 512x512 output needs far more: tiling is what keeps it flat
    assert _inference_peak(128) > 1.5 * working[1]


def test_memory_child_failure_is_reported_as_unmeasured():
    assert cpu_peak_memory(dict(kind="no-such-kind")) is None


def test_training_step_rows_and_modes(tmp_path):
    rows = bench_train_step(batch=1, patch=16, steps=1, device=CPU, memory=False)
    assert [r.mode for r in rows] == ["eager", "plain"]
    assert all(r.seconds > 0 and r.model == "swinir-s-x4 train b1" for r in rows)
    with pytest.raises(OptionError, match="reference"):
        bench_train_step(batch=1, patch=16, steps=1, device=CPU, modes=("reference",), memory=False)


def _fake_reference_dir(tmp_path):
    # stands in for the reference network_swinir.py: same constructor and parameter names
    (tmp_path / "network_swinir.py").write_text("from swinsr.archs.sr import SwinIR\n")
    return tmp_path


def test_reference_mode_is_timed_and_compared(tmp_path):
    from swinsr.speed import bench_inference

    ref_dir = _fake_reference_dir(tmp_path)
    rows = bench_inference("swinir-s-x4", 16, ["eager", "reference"], device=CPU, rounds=1, reference_dir=ref_dir,
                           memory=False)
    assert [r.mode for r in rows] == ["eager", "reference"]
    assert rows[1].max_abs_diff < 1e-4
    train = bench_train_step(batch=1, patch=16, steps=1, device=CPU, modes=("eager", "reference"),
                             reference_dir=ref_dir, memory=False)
    assert [r.mode for r in train] == ["eager", "reference"]


def test_report_rows_give_speedup_over_the_reference():
    from swinsr.cli.bench_speed_cmd import _rows

    results = [
        Result("swinir-s-x4", 128, "eager", "cpu", 0.5, 0.5, 100.0, 0.0),
        Result("swinir-s-x4", 128, "reference", "cpu", 1.5, 0.2, None, 2e-6),
        Result("swinir-s-x4 tiled 128", 1024, "eager", "cpu", 60.0, 0.3, 300.0, output_mb=192.0),
    ]
    header, rows = _rows(results)
    assert header[-1] == "vs reference" and all("|" not in h for h in header)  # Markdown-safe
    assert rows[0][-1] == "3.00x" and rows[1][-1] == "1.00x" and rows[2][-1] == "-"
    assert rows[1][5] == "-" and rows[2][5] == "300 (output 192)"


def test_markdown_table_output(capsys):
    from swinsr.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["bench-speed", "--sizes", "16", "--rounds", "1", "--modes", "eager", "--no-memory", "--markdown"])
    assert exit_info.value.code in (0, None)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("|")]
    assert lines[0].startswith("| model | LR size | mode |") and lines[1].startswith("| --- |")
    assert lines[2].startswith("| swinir-s-x4 | 16x16 | eager |")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["swinir-s-x4", "swinir-m-x4"])
def test_cpu_memory_estimate_covers_the_measured_peak_without_gross_excess(name):
    # tile="auto" on CPU sizes tiles from this estimate: too low risks swapping, too high tiles
    # images that fit whole (every tile recomputes its overlap border)
    from swinsr.inference.tiling import estimate_bytes_per_pixel
    from swinsr.speed import build_preset

    peaks = [cpu_peak_memory(dict(kind="inference", model=name, size=s, mode="eager", threads=1)) for s in (96, 160)]
    measured = (peaks[1] - peaks[0]) * 2**20 / (160**2 - 96**2)
    estimate = estimate_bytes_per_pixel(build_preset(name))
    assert measured < estimate < 2 * measured, (measured, estimate)
