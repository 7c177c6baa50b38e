"""``swinsr benchmark``: PSNR/SSIM of a model (or bicubic) on SR test sets, with the standard protocol."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich import box
from rich.table import Table

from .app import app, console, err_console


@app.command("benchmark")
def benchmark_command(
    model: Optional[str] = typer.Option(
        None, "--model", "-m",
        help="'bicubic', a checkpoint path, or a registered model name (default: the embedded default for --scale).",
    ),
    dataset: List[Path] = typer.Option(
        ..., "--dataset", "-d",
        help="Dataset folder with HR/ and optionally LR_bicubic/X{s}/{stem}x{s}.png; repeat for several.",
    ),
    scale: int = typer.Option(..., "--scale", "-s", help="Upscaling factor (2, 3, 4, ...); also the crop border."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write results and per-image rows as JSON."),
    csv_path: Optional[Path] = typer.Option(
        None, "--csv", help="Write the results table as CSV (per-image rows go to <name>_per_image.csv)."
    ),
    save_images: Optional[Path] = typer.Option(
        None, "--save-images", help="Write each SR image to DIR/<dataset>/X<scale>/<name>.png."
    ),
    report: Optional[Path] = typer.Option(
        None, "--report", help="Write DIR/report.md with comparison strips (bicubic | model | HR, zoomed crops)."
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
    """Benchmark PSNR/SSIM (Y and RGB) on SR test sets with the standard evaluation protocol.

    HR is cropped to a multiple of the scale, LR comes from LR_bicubic/ or the MATLAB-exact bicubic, the output is rounded to 8 bits, and crop_border = scale.
    """
    from ..benchmark import run_benchmark

    result = run_benchmark(
        model,
        list(dataset),
        scale,
        tile=tile,
        tile_overlap=tile_overlap,
        ensemble=ensemble,
        device=device,
        precision=precision,
        save_images=save_images,
        report_dir=report,
        lpips=lpips,
        log=lambda msg: err_console.print(msg, highlight=False, soft_wrap=True),
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


def _print_table(results: list[dict]) -> None:
    # one model and scale per run: they go in the title so the table fits an 80-column terminal
    first = results[0]
    table = Table(
        title=f"{first['model']} x{first['scale']}  (Y: BT.601 studio swing, crop = scale)",
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
