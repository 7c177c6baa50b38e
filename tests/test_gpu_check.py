"""scripts/gpu_check.sh (its CPU dry run and argument handling) and the bench-speed options it uses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from swinsr.cli import main

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "gpu_check.sh"
STAGES = ["env", "tests", "bench", "bench_tf32", "train_step", "tiled", "train_data", "train", "train_resume",
          "train_resume_check", "compiled"]

needs_bash = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                                reason="needs bash and coreutils timeout")


def run_script(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in ("OUT", "GPU_CHECK_DRY_RUN")}
    full_env.update(env or {})
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=full_env, timeout=timeout)


@needs_bash
def test_script_needs_an_output_folder_and_rejects_unknown_arguments(tmp_path):
    missing = run_script()
    assert missing.returncode == 2 and "set OUT or pass --out" in missing.stderr
    unknown = run_script("--fast", "--out", str(tmp_path))
    assert unknown.returncode == 2 and "unknown argument '--fast'" in unknown.stderr
    helped = run_script("--help")
    assert helped.returncode == 0 and "--dry-run" in helped.stdout


@needs_bash
@pytest.mark.slow
def test_dry_run_runs_every_stage_on_the_cpu(tmp_path):
    out = tmp_path / "out"
    proc = run_script(env={"GPU_CHECK_DRY_RUN": "1", "OUT": str(out), "SWINSR_SHARED": str(tmp_path / "none")},
                      timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:]
    rows = [line.split("\t") for line in (out / "summary.tsv").read_text().splitlines()[1:]]
    assert [r[0] for r in rows] == STAGES and all(r[1] == "ok" for r in rows), rows
    bench = json.loads((out / "bench.json").read_text())
    assert bench["cpu_capability"].startswith("ATen ") and "float32_matmul_precision" in bench
    assert {r["model"] for r in bench["rows"]} == {"swinir-s-x4", "swinir-s-x4 b2"}
    assert {r["mode"] for r in bench["rows"]} == {"eager", "bf16"} and all(r["tflops"] > 0 for r in bench["rows"])
    assert {r["mode"] for r in json.loads((out / "compiled.json").read_text())["rows"]} == {"eager", "compiled"}
    train = json.loads((out / "train_step.json").read_text())["rows"]
    assert [r["model"] for r in train] == ["swinir-s-x4 train b2"] * 2
    tiled = json.loads((out / "tiled.json").read_text())
    assert tiled["output"] == "384x256" and tiled["peak_rss_mb"] > 0
    assert "synthetic" in (out / "train_data.log").read_text()  # no shared data: generated images
    assert (out / "experiments" / "models" / "net_g_latest.pth").exists()


def test_bench_speed_records_the_cpu_capability_and_counts_flops(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench-speed", "--sizes", "16", "--batches", "1,2", "--rounds", "1", "--modes", "eager", "--no-memory",
              "--flops", "--markdown", "--json", str(tmp_path / "b.json")])
    assert exit_info.value.code in (0, None)
    captured = capsys.readouterr()
    capability = torch.backends.cpu.get_cpu_capability()
    assert f"ATen {capability}" in captured.err  # the machine line
    payload = json.loads((tmp_path / "b.json").read_text())
    assert payload["cpu_capability"] == f"ATen {capability}" and f"ATen {capability}" in payload["machine"]
    rows = {r["model"]: r for r in payload["rows"]}
    assert set(rows) == {"swinir-s-x4", "swinir-s-x4 b2"}
    assert rows["swinir-s-x4 b2"]["out_mpix_per_s"] > 0 and rows["swinir-s-x4"]["peak_fraction"] is None  # no GPU peak
    header = next(line for line in captured.out.splitlines() if line.startswith("| model"))
    assert "| TFLOP/s | of peak | vs reference |" in header


def test_flop_count_scales_with_the_batch():
    from swinsr.speed import build_preset, count_flops

    model = build_preset("swinir-s-x4")
    one, two = (count_flops(model, torch.rand(b, 3, 16, 16)) for b in (1, 2))
    assert one and two == pytest.approx(2 * one, rel=1e-6)


def test_gpu_peak_table_and_mode_precisions(monkeypatch):
    from swinsr import speed

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "NVIDIA H200")
    assert speed.gpu_peak_tflops(torch.device("cuda"))["bf16"] == 989.0
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "NVIDIA H100 PCIe")
    assert speed.gpu_peak_tflops(torch.device("cuda"))["tf32"] == 378.0
    assert speed.gpu_peak_tflops(torch.device("cpu")) is None
    assert speed.mode_precision("bf16", torch.device("cuda")) == "bf16"
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", True)
    assert speed.mode_precision("eager", torch.device("cuda")) == "tf32"
    assert speed.mode_precision("eager", torch.device("cpu")) == "fp32"


def test_training_step_row_at_batch_8_against_the_reference(tmp_path):
    from swinsr.speed import bench_train_step

    # stands in for the reference network_swinir.py: same constructor and parameter names
    (tmp_path / "network_swinir.py").write_text("from swinsr import SwinIR\n")
    rows = bench_train_step(batch=8, patch=8, steps=1, device=torch.device("cpu"), modes=("eager", "reference"),
                            reference_dir=tmp_path, memory=False)
    assert [(r.model, r.mode) for r in rows] == [("swinir-s-x4 train b8", "eager"), ("swinir-s-x4 train b8", "reference")]
    from swinsr.cli.bench_speed_cmd import _rows

    header, cells = _rows(rows)
    assert header[-1] == "vs reference" and cells[1][-1] == "1.00x" and cells[0][-1].endswith("x")
