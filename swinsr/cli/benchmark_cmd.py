"""``swinsr benchmark``: PSNR/SSIM of a model (or bicubic / identity) on SR, denoising and JPEG test sets."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich import box
from rich.table import Table

from ..errors import OptionError
from .app import app, console, err_console
from .model_args import MODEL_ARG_OPTION, parse_model_args

TASK_CHOICES = ("sr", "denoise", "jpeg")


@app.command("benchmark")
def benchmark_command(
    model: Optional[str] = typer.Option(
        None, "--model", "-m",
        help="'bicubic' (SR) or 'identity' (denoise/jpeg: the degraded input), a checkpoint path, or a registered "
        "model name (default: the embedded classical default for --scale, e.g. swinsr-light-x4, or the default of "
        "--task denoise/jpeg; real-world models such as swinsr-real-x4 by name).",
    ),
    model_arg: Optional[List[str]] = MODEL_ARG_OPTION,
    dataset: List[Path] = typer.Option(
        ..., "--dataset", "-d",
        help="Dataset folder with HR/ (or of clean images for denoise/jpeg) and optionally LR_bicubic/X{s}/{stem}x{s}.png; "
        "repeat for several.",
    ),
    task: str = typer.Option(
        "sr", "--task", "-t", help="sr (super-resolution), denoise (Gaussian noise) or jpeg (JPEG artifacts)."
    ),
    scale: Optional[int] = typer.Option(
        None, "--scale", "-s", help="SR upscaling factor (2, 3, 4, ...); also the crop border. Required for --task sr."
    ),
    noise: Optional[str] = typer.Option(
        None, "--noise", help="--task denoise: noise sigmas (0-255), comma-separated (default 15,25,50); one row each."
    ),
    quality: Optional[str] = typer.Option(
        None, "--quality", help="--task jpeg: JPEG qualities (1-100), comma-separated (default 10,20,30,40); one row each."
    ),
    color: Optional[str] = typer.Option(
        None, "--color", help="--task denoise/jpeg: rgb (default) or gray (SwinIR's gray protocol)."
    ),
    lr_dir: Optional[str] = typer.Option(
        None, "--lr-dir",
        help="--task sr: LR folder to score, e.g. LR_realesrgan (default LR_bicubic, else the only LR_*/X{s} folder).",
    ),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write results and per-image rows as JSON."),
    csv_path: Optional[Path] = typer.Option(
        None, "--csv", help="Write the results table as CSV (per-image rows go to <name>_per_image.csv)."
    ),
    save_images: Optional[Path] = typer.Option(
        None, "--save-images",
        help="Write each output to DIR/<dataset>/X<scale>/<name>.png (denoise/jpeg: DIR/<dataset>/noise25|jpeg10/...).",
    ),
    report: Optional[Path] = typer.Option(
        None, "--report",
        help="Write DIR/report.md with comparison strips (bicubic or LR | model | HR; degraded | restored | clean).",
    ),
    ensemble: bool = typer.Option(False, "--ensemble", help="x8 self-ensemble (flips/rotations; 8x slower)."),
    tile: Optional[str] = typer.Option(
        None, "--tile", help="Run the model on tiles of N input pixels ('auto': largest that fits); default whole image."
    ),
    tile_overlap: int = typer.Option(32, "--tile-overlap", help="Overlap between tiles in input pixels (blended)."),
    device: Optional[str] = typer.Option(None, "--device", help="'cpu', 'cuda', 'cuda:1', 'mps' (default: best available)."),
    precision: str = typer.Option(
        "fp32", "--precision", help="Model precision: fp32 (protocol default), bf16, fp16 or auto."
    ),
    lpips: bool = typer.Option(
        False, "--lpips", help="Also report LPIPS when the 'lpips' package and its weights are installed locally."
    ),
) -> None:
    """Benchmark PSNR/SSIM on SR, denoising or JPEG test sets with the standard evaluation protocols.

    SR: HR is cropped to a multiple of the scale, LR comes from LR_bicubic/ (or --lr-dir) or the MATLAB-exact bicubic, the output is rounded to 8 bits, and crop_border = scale. Denoise / JPEG: SwinIR's test protocol (seeded noise, OpenCV JPEG, RGB or gray PSNR/SSIM, Y and PSNR-B).
    """
    log = lambda msg: err_console.print(msg, highlight=False, soft_wrap=True)  # noqa: E731
    check_task_options(task, scale=scale, noise=noise, quality=quality, color=color, lr_dir=lr_dir, lpips=lpips)
    model_args = parse_model_args(model_arg)
    if task != "sr":
        from ..restoration_benchmark import parse_levels, run_restoration_benchmark

        result = run_restoration_benchmark(
            model, list(dataset), task, parse_levels(task, noise if task == "denoise" else quality),
            color=color or "rgb", tile=tile, tile_overlap=tile_overlap, ensemble=ensemble, device=device,
            precision=precision, save_images=save_images, report_dir=report, log=log, model_args=model_args,
        )
        _print_restoration_table(result.results)
    else:
        from ..benchmark import run_benchmark

        result = run_benchmark(
            model,
            list(dataset),
            int(scale),  # type: ignore[arg-type]  # checked above
            tile=tile,
            tile_overlap=tile_overlap,
            ensemble=ensemble,
            device=device,
            precision=precision,
            save_images=save_images,
            report_dir=report,
            lpips=lpips,
            lr_dir=lr_dir,
            log=log,
            model_args=model_args,
        )
        _print_table(result.results)
    if json_path is not None:
        result.write_json(json_path)
        err_console.print(f"wrote {json_path}")
    if csv_path is not None:
        per_image = result.write_csv(csv_path)
        err_console.print(f"wrote {csv_path} and {per_image}")
    if report is not None:
        err_console.print(f"wrote {report / 'report.md'}")


def check_task_options(
    task: str, *, scale: int | None, noise: str | None, quality: str | None, color: str | None, lr_dir: str | None,
    lpips: bool,
) -> None:
    """Refuse options that do not belong to ``task`` (one line naming the option)."""
    if task not in TASK_CHOICES:
        raise OptionError(f"--task {task}: choose {', '.join(TASK_CHOICES)}")
    if task == "sr":
        if scale is None:
            raise OptionError("--task sr needs --scale (2, 3, 4, ...)")
        for flag, value in (("--noise", noise), ("--quality", quality), ("--color", color)):
            if value is not None:
                raise OptionError(f"{flag} applies to --task denoise/jpeg, not to super-resolution")
        return
    if scale is not None and scale != 1:
        raise OptionError(f"--scale {scale}: --task {task} restores at the input size (leave --scale out)")
    if task == "denoise" and quality is not None:
        raise OptionError("--quality applies to --task jpeg; use --noise SIGMAS for --task denoise")
    if task == "jpeg" and noise is not None:
        raise OptionError("--noise applies to --task denoise; use --quality Q for --task jpeg")
    if color is not None and color not in ("rgb", "gray"):
        raise OptionError(f"--color {color}: choose rgb or gray")
    if lr_dir is not None:
        raise OptionError(f"--lr-dir applies to --task sr; --task {task} makes its degraded inputs from the clean images")
    if lpips:
        raise OptionError("--lpips is available for --task sr only")


def _print_restoration_table(results: list[dict]) -> None:
    first = results[0]
    kind = "denoising" if first["task"] == "denoise" else "JPEG artifact removal"
    table = Table(
        title=f"{first['model']}  {kind} ({first['color']}), SwinIR protocol",
        box=box.SIMPLE_HEAD, show_edge=False,
    )
    has_y = any("psnr_y" in r for r in results)
    has_b = any("psnrb" in r for r in results)
    # short headers: a colour JPEG row (8 numbers) must fit an 80-column terminal
    columns = ["dataset", "sigma" if first["task"] == "denoise" else "q", "PSNR", "SSIM"]
    columns += (["PSNR-Y", "SSIM-Y"] if has_y else []) + (["PSNR-B"] if has_b else []) + ["images", "sec"]
    for col in columns:
        table.add_column(col, justify="left" if col == "dataset" else "right", no_wrap=True)
    for r in results:
        cells = [r["dataset"], str(r.get("noise", r.get("quality"))), f"{r['psnr']:.3f}", f"{r['ssim']:.4f}"]
        if has_y:
            cells += [f"{r['psnr_y']:.3f}", f"{r['ssim_y']:.4f}"]
        if has_b:
            cells.append(f"{r['psnrb']:.3f}")
        cells += [str(r["images"]), f"{r['seconds']:.2f}"]
        table.add_row(*cells)
    console.print(table)


def _print_table(results: list[dict]) -> None:
    # one model and scale per run: they go in the title so the table fits an 80-column terminal
    first = results[0]
    lr = f", LR {first['lr']}" if "lr" in first else ""
    table = Table(
        title=f"{first['model']} x{first['scale']}{lr}  (Y: BT.601 studio swing, crop = scale)",
        box=box.SIMPLE_HEAD, show_edge=False,
    )
    has_lpips = any("lpips" in r for r in results)
    columns = ["dataset", "PSNR-Y", "SSIM-Y", "PSNR-RGB", "SSIM-RGB", "images", "seconds", "peak MB"]
    for col in columns + (["LPIPS"] if has_lpips else []):
        table.add_column(col, justify="left" if col == "dataset" else "right", no_wrap=True)
    for r in results:
        cells = [
            r["dataset"], f"{r['psnr_y']:.3f}", f"{r['ssim_y']:.4f}", f"{r['psnr_rgb']:.3f}", f"{r['ssim_rgb']:.4f}",
            str(r["images"]), f"{r['seconds']:.2f}", f"{r['peak_mem_mb']:.0f}",
        ]
        if has_lpips:
            cells.append(f"{r['lpips']:.4f}" if "lpips" in r else "-")
        table.add_row(*cells)
    console.print(table)
