"""``swinsr degrade``: make LR images from HR images (paired validation / test sets)."""

from __future__ import annotations

import typer

from ..errors import ImageError, OptionError
from .app import app, err_console
from .upscale_cmd import INPUTS_ARGUMENT, OVERWRITE_OPTION, QUIET_OPTION, RECURSIVE_OPTION, _debug


@app.command("degrade")
def degrade_command(
    ctx: typer.Context,
    inputs: list[str] = INPUTS_ARGUMENT,
    output: str = typer.Option(..., "-o", "--output", help="Output folder; LR images are written as {stem}x{S}.png."),
    scale: int = typer.Option(..., "--scale", "-s", help="Downscaling factor S (the HR is cropped to a multiple of S first)."),
    seed: int = typer.Option(0, "--seed", help="Base seed; each image's seed comes from it and the file name."),
    preset: str = typer.Option(
        "realesrgan", "--preset",
        help="realesrgan: Real-ESRGAN x4plus second-order degradation (official values, no USM); "
        "bicubic: MATLAB bicubic.",
    ),
    jpeg: int | None = typer.Option(None, "--jpeg", help="Add a final OpenCV JPEG compression at this quality (1-100)."),
    overwrite: bool = OVERWRITE_OPTION,
    recursive: bool = RECURSIVE_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Degrade HR images (files, folders, globs) into LR images, reproducibly.

    Every image gets its own fixed seed (from --seed and its file name), so a rerun writes bit-identical files. The HR is cropped top-left to a multiple of S; outputs are {stem}x{S}.png, existing ones are skipped unless --overwrite, inputs are never written.

    Example: `swinsr degrade HR/ -o LR_realesrgan/X4 --scale 4`.
    """
    from ..degradations.presets import Degrader, image_seed
    from ..imageio import read_image, write_image
    from ..inference.batch import collect_inputs, plan_jobs, run_jobs, summary_line

    if scale < 1:
        raise OptionError(f"--scale {scale}: must be a positive integer (2, 3, 4, ...)")
    degrader = Degrader(scale, preset.lower(), jpeg)
    found, missing, _ = collect_inputs(inputs, recursive=recursive)
    if not found and not missing:
        raise OptionError(f"no images found in {', '.join(inputs)} (formats: png, jpg, webp, bmp, tif, gif)")
    jobs = missing + plan_jobs(
        found, output=output, multi=True, ext="png", suffix=f"x{scale}", default_suffix=f"x{scale}", overwrite=overwrite
    )

    def process(job, _on_tiles) -> list[str]:
        image = read_image(job.source)
        try:
            lr, notes = degrader(image.array, image_seed(seed, job.source.name))
        except ImageError as exc:
            raise ImageError(f"{job.source}: {exc}") from None
        return notes + write_image(job.output, lr)

    result = run_jobs(jobs, process, console=err_console, quiet=quiet, debug=_debug(ctx))
    if not quiet:
        what = f"{preset} x{scale}" + (f" + JPEG {jpeg}" if jpeg is not None else "")
        err_console.print(f"{summary_line(result, 'degraded')} ({what}, seed {seed})", highlight=False, soft_wrap=True)
    raise typer.Exit(result.exit_code)
