"""``swinsr bench-speed``: inference and training speed of the Swin SR models."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from .app import app, console, err_console


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _rows(results: list) -> tuple[list[str], list[list[str]]]:
    """Table header and cells; "vs reference" is the reference's time over the row's time."""
    reference = {(r.model, r.size): r.seconds for r in results if r.mode == "reference"}
    header = ["model", "LR size", "mode", "s/image", "out MP/s", "peak MB", "max abs diff vs eager", "vs reference"]
    flops = any(r.tflops is not None for r in results)
    if flops:  # only when counted (--flops), so the default table keeps its columns
        header[-1:-1] = ["TFLOP/s", "of peak"]
    rows = []
    for r in results:
        ref = reference.get((r.model, r.size))
        peak = "-" if r.peak_mb is None else f"{r.peak_mb:.0f}"
        if r.output_mb is not None and r.peak_mb is not None:
            peak += f" (output {r.output_mb:.0f})"
        cells = [
            r.model, f"{r.size}x{r.size}", r.mode, f"{r.seconds:.3f}", f"{r.out_mpix_per_s:.3f}", peak,
            "-" if r.max_abs_diff is None else f"{r.max_abs_diff:.1e}", "-" if ref is None else f"{ref / r.seconds:.2f}x",
        ]
        if flops:
            cells[-1:-1] = ["-" if r.tflops is None else f"{r.tflops:.3g}",
                            "-" if r.peak_fraction is None else f"{100 * r.peak_fraction:.1f}%"]
        rows.append(cells)
    return header, rows


@app.command("bench-speed")
def bench_speed_command(
    models: str = typer.Option("swinir-s-x4", "--models", help="Comma-separated presets: swinir-s-x4, swinir-m-x4, swin2sr-s-x4."),
    sizes: str = typer.Option("128", "--sizes", help="Comma-separated LR input sides in pixels, e.g. 128,256."),
    modes: Optional[str] = typer.Option(
        None, "--modes", help="Comma-separated: eager (fast fp32), plain (reference-style fp32), compiled, bf16, "
        "reference (needs --reference-dir). Default: eager,plain on CPU; eager,compiled,bf16 on CUDA."
    ),
    device: str = typer.Option("auto", "--device", help="cpu, cuda or auto."),
    rounds: int = typer.Option(3, "--rounds", min=1, help="Timed runs per mode (interleaved; the median is reported)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads (default: PyTorch's choice)."),
    reference_dir: Optional[Path] = typer.Option(
        None, "--reference-dir", help="Folder with the reference network_swinir.py (and a timm stub) to time it too."
    ),
    batches: str = typer.Option("1", "--batches", help="Comma-separated batch sizes of the inference rows, e.g. 1,8."),
    train: bool = typer.Option(
        False, "--train", help="Also time a training step (SwinIR-S x4, batch 8, 64x64 LR, L1 + Adam; "
        "against the reference with --reference-dir)."
    ),
    train_batch: int = typer.Option(8, "--train-batch", min=1, help="Batch size of the training-step timing."),
    train_model: str = typer.Option("swinir-s-x4", "--train-model", help="Preset of the training-step timing."),
    flops: bool = typer.Option(
        False, "--flops", help="Count FLOPs of one forward: achieved TFLOP/s and, on known GPUs, the fraction of peak."
    ),
    tf32: Optional[bool] = typer.Option(
        None, "--tf32/--no-tf32", help="CUDA: allow TF32 for fp32 matmuls and convolutions (default: leave PyTorch's "
        "setting); recorded in the machine line and JSON either way."
    ),
    tiled: Optional[str] = typer.Option(
        None, "--tiled", help="Comma-separated output sides (e.g. 512,1024,2048,4096): peak memory of the tiled Upscaler."
    ),
    tile: int = typer.Option(128, "--tile", help="Tile side (LR pixels) for --tiled."),
    tile_batch: Optional[int] = typer.Option(
        None, "--tile-batch", min=1, help="Tiles per batch for --tiled (default: the Upscaler's choice: 1 on CPU, up to 16 on GPU)."
    ),
    memory: bool = typer.Option(
        True, "--memory/--no-memory", help="Measure peak memory (on CPU: one fresh process per row, slower)."
    ),
    allocator: str = typer.Option(
        "default", "--allocator", help="default: the C allocator as the environment leaves it (glibc's defaults "
        "unless MALLOC_* variables say otherwise); tuned: the setting the other swinsr commands run with "
        "(swinsr.allocator), for every mode, the reference included. Recorded in the title and JSON."
    ),
    markdown: bool = typer.Option(False, "--markdown", help="Print the table as Markdown (README-ready)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write all rows to this JSON file."),
) -> None:
    """Seconds per image, output megapixels per second and peak memory, per model, size and mode.

    Models have random weights (speed does not depend on them); modes are timed interleaved and
    the median is reported, so other load on the machine affects all modes alike.
    """
    import torch

    from ..checkpoint import _atomic_write
    from ..inference import resolve_device
    from ..speed import bench_inference, bench_tiled_memory, bench_train_step, machine_description, precision_settings
    from ..speed import threads as thread_ctx

    from ..allocator import allocator_status, tune_allocator
    from ..errors import OptionError

    if allocator not in ("default", "tuned"):
        raise OptionError(f"--allocator: choose default or tuned, got {allocator!r}")
    if allocator == "tuned" and not tune_allocator():
        raise OptionError(f"--allocator tuned: not available here ({allocator_status()}); use --allocator default")
    dev = resolve_device(device)
    if tf32 is not None:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    settings = precision_settings(dev)
    settings["allocator"] = allocator_status()
    mode_list = _split(modes) if modes else (["eager", "compiled", "bf16"] if dev.type == "cuda" else ["eager", "plain"])
    if reference_dir is not None and "reference" not in mode_list:
        mode_list.append("reference")
    log = lambda s: err_console.print(s, highlight=False)  # noqa: E731
    results = []
    with thread_ctx(threads):
        n_threads = torch.get_num_threads()
        machine = machine_description(dev)
        extra = f", TF32 {'on' if settings['cuda_matmul_tf32'] else 'off'}" if dev.type == "cuda" else ""
        err_console.print(f"{machine}; {n_threads} threads{extra}, load average {os.getloadavg()}; "
                          f"allocator {settings['allocator']}", highlight=False)
        for name in _split(models):
            for size in map(int, _split(sizes)):
                for batch in map(int, _split(batches)):
                    results += bench_inference(name, size, mode_list, device=dev, rounds=rounds, batch=batch,
                                               reference_dir=reference_dir, memory=memory, flops=flops, log=log)
        if train:
            train_modes = ("eager", "plain", "reference") if reference_dir is not None else ("eager", "plain")
            results += bench_train_step(train_model, batch=train_batch, device=dev, modes=train_modes,
                                        reference_dir=reference_dir, memory=memory, log=log)
        if tiled:
            results += bench_tiled_memory("swinir-s-x4", [int(s) for s in _split(tiled)], tile=tile, device=dev,
                                          tile_batch=tile_batch, memory=memory, log=log)
    alloc = "tuned allocator, " if settings["allocator"].startswith("tuned") else ""
    title = f"swinsr speed on {machine} ({dev}, {n_threads} threads{extra}, {alloc}load {os.getloadavg()[0]:.1f})"
    header, rows = _rows(results)
    if markdown:
        console.print(f"{title}\n", highlight=False, soft_wrap=True)
        for cells in [header, ["---"] * len(header), *rows]:
            console.print("| " + " | ".join(cells) + " |", highlight=False, soft_wrap=True)
    else:
        table = Table(title=title)
        for col in header:
            table.add_column(col, no_wrap=True)
        for cells in rows:
            table.add_row(*cells)
        # a pipe gets an 80-column console by default, which would truncate every cell
        (console if console.is_terminal else Console(width=160)).print(table)
    if json_out is not None:
        payload = json.dumps({"machine": machine, "threads": n_threads, "load_average": os.getloadavg(),
                              **settings, "rows": [r.to_dict() for r in results]}, indent=2)
        _atomic_write(json_out, lambda tmp: Path(tmp).write_text(payload))
