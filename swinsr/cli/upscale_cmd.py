"""``swinsr upscale``: super-resolve images, files, folders or globs, safely and in batches.

The options shared with ``swinsr restore`` are defined here once (``*_OPTION``) and the whole
batch run is :func:`run_image_batch`; the engine lives in :mod:`swinsr.inference`.
"""

from __future__ import annotations

import os
from typing import List, Optional

import typer

from ..errors import ImageError, OptionError
from .app import app, err_console
from .model_args import MODEL_ARG_OPTION, parse_model_args

#: Scale used when neither --scale nor --model is given.
DEFAULT_SCALE = 4

INPUTS_ARGUMENT = typer.Argument(..., help="Image files, folders or glob patterns (quote globs).", metavar="INPUT...")
OUTPUT_OPTION = typer.Option(
    None, "-o", "--output",
    help="Output file (one input) or folder (several inputs, or an existing folder). "
    "Default: next to each input, with a suffix added to the name.",
)
MODEL_PATH_OPTION = typer.Option(..., "--model", "-m", help="Checkpoint path or registered model name.")
TILE_OPTION = typer.Option(
    "auto", "--tile",
    help="Tile size in input pixels, 'auto' (fit free memory; whole image when it fits) or 0 (never tile).",
)
TILE_OVERLAP_OPTION = typer.Option(
    32, "--tile-overlap", help="Context in input pixels added around each tile; tiles blend smoothly across it."
)
PRECISION_OPTION = typer.Option(
    "auto", "--precision", help="auto (bf16 on CUDA, fp32 elsewhere), fp32, bf16 or fp16 (falls back to fp32 on overflow)."
)
DEVICE_OPTION = typer.Option("auto", "--device", help="auto, cpu, cuda or mps.")
ENSEMBLE_OPTION = typer.Option(False, "--ensemble", help="x8 self-ensemble (flips/rotations averaged): 8x slower, a little better.")
COMPILE_OPTION = typer.Option(
    False, "--compile", help="torch.compile the model on tiles of one shape, so it compiles once (1-2 minutes) "
    "for images of any size. Meant for GPUs: on a CPU it was slower than eager (README, Speed)."
)
ALPHA_OPTION = typer.Option("model", "--alpha", help="How to upscale an alpha channel: 'model' (as a gray image) or 'bicubic'.")
EXT_OPTION = typer.Option(None, "--ext", help="Output format: png, jpg, webp, tif or bmp (default: the input's; GIF -> png).")
SUFFIX_OPTION = typer.Option(
    None, "--suffix", help="Appended to output names (default: '_x{S}' next to the input, nothing inside an -o folder)."
)
OVERWRITE_OPTION = typer.Option(False, "--overwrite", help="Replace existing outputs (inputs are never overwritten).")
RECURSIVE_OPTION = typer.Option(False, "--recursive", "-r", help="Search folders (and ** in globs) recursively.")
QUIET_OPTION = typer.Option(False, "--quiet", "-q", help="No progress bar, notes or summary; errors are still printed.")


def parse_tile(value: str) -> int | str | None:
    """``--tile`` value -> ``"auto"``, a positive tile size, or None (0: whole image)."""
    text = value.strip().lower()
    if text == "auto":
        return "auto"
    try:
        tile = int(text)
    except ValueError:
        raise OptionError(f"--tile {value!r}: give a number of pixels, 'auto' or 0") from None
    if tile < 0:
        raise OptionError(f"--tile {value}: must be >= 0")
    return tile or None


def _debug(ctx: typer.Context) -> bool:
    return bool(ctx.find_root().params.get("debug")) or os.environ.get("SWINSR_DEBUG") == "1"


def model_label(model: object, source: object = None) -> str:
    """How to name a loaded model in messages: its registered name, else ``file (Class)`` when the
    ``--model`` path is given as ``source``, else its class."""
    name = getattr(model, "swinsr_name", None)
    if name:
        return str(name)
    if source is not None:
        return f"{os.path.basename(str(source))} ({type(model).__name__})"
    return type(model).__name__


def run_image_batch(
    ctx: typer.Context,
    inputs: list[str],
    *,
    upscaler: object,
    output: str | None,
    ext: str | None,
    suffix: str | None,
    default_suffix: str,
    overwrite: bool,
    recursive: bool,
    quiet: bool,
    verb: str,
    outscale: float | None = None,
    remark: str = "",
) -> None:
    """Expand inputs, plan outputs, run the upscaler on each image, print the summary, exit 0/1."""
    from ..imageio import read_image
    from ..inference.batch import collect_inputs, drop_previous_outputs, plan_jobs, run_jobs, summary_line

    found, missing, multi = collect_inputs(inputs, recursive=recursive)
    if output is None:
        found = drop_previous_outputs(found, suffix if suffix is not None else default_suffix)
    if not found and not missing:
        raise OptionError(f"no images found in {', '.join(inputs)} (formats: png, jpg, webp, bmp, tif, gif)")
    jobs = missing + plan_jobs(
        found, output=output, multi=multi, ext=ext, suffix=suffix, default_suffix=default_suffix, overwrite=overwrite
    )

    def process(job, on_tiles) -> list[str]:
        image = read_image(job.source)
        try:
            # PNG output is streamed into the file band by band (the output never exists in memory)
            return upscaler.upscale_file(image.array, job.output, outscale=outscale, progress=on_tiles)  # type: ignore[attr-defined]
        except ImageError as exc:  # e.g. an output too large for memory: name the file
            if str(exc).startswith(str(job.output)):  # a write error already names the output
                raise
            raise ImageError(f"{job.source}: {exc}") from None

    result = run_jobs(jobs, process, console=err_console, quiet=quiet, debug=_debug(ctx))
    if not quiet:
        err_console.print(summary_line(result, verb) + remark, highlight=False, soft_wrap=True)
    raise typer.Exit(result.exit_code)


def build_upscaler(
    model: object, *, tile: str, tile_overlap: int, precision: str, device: str, ensemble: bool, alpha: str,
    compile: bool = False,
):
    """An :class:`swinsr.Upscaler` from command-line option values."""
    from ..inference import Upscaler

    return Upscaler(
        model, tile=parse_tile(tile), tile_overlap=tile_overlap, precision=precision, device=device,
        ensemble=ensemble, alpha=alpha, compile=compile,
    )


@app.command("upscale")
def upscale_command(
    ctx: typer.Context,
    inputs: list[str] = INPUTS_ARGUMENT,
    output: str | None = OUTPUT_OPTION,
    scale: int | None = typer.Option(
        None, "--scale", "-s", help=f"Upscaling factor; picks the default model for it (default x{DEFAULT_SCALE}): the "
        "real-world one where registered (photos), else the classical one. Must match --model's scale."
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Checkpoint path or registered model name (default: the embedded model for --scale; "
        "e.g. --model swinsr-light-x4 for the classical one)."
    ),
    model_arg: Optional[List[str]] = MODEL_ARG_OPTION,
    tile: str = TILE_OPTION,
    tile_overlap: int = TILE_OVERLAP_OPTION,
    precision: str = PRECISION_OPTION,
    device: str = DEVICE_OPTION,
    outscale: float | None = typer.Option(
        None, "--outscale", help="Final size as a factor of the input: runs at the model's scale, then resizes (antialiased)."
    ),
    ensemble: bool = ENSEMBLE_OPTION,
    compile: bool = COMPILE_OPTION,
    alpha: str = ALPHA_OPTION,
    ext: str | None = EXT_OPTION,
    suffix: str | None = SUFFIX_OPTION,
    overwrite: bool = OVERWRITE_OPTION,
    recursive: bool = RECURSIVE_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Upscale images with a SwinIR/Swin2SR model (exit 0: all done, 1: some input failed, 2: usage error).

    Examples: `swinsr upscale photo.jpg --scale 4`; `swinsr upscale photos/ -o out/ --model model_x2.pth --tile 256`.
    """
    from ..zoo import UPSCALE, resolve_model

    if scale is not None and scale < 1:
        raise OptionError(f"--scale {scale}: must be a positive integer")
    if outscale is not None and not outscale > 0:
        raise OptionError(f"--outscale {outscale}: must be a positive number")
    loaded = resolve_model(
        model, scale=scale if scale is not None or model is not None else DEFAULT_SCALE, task=UPSCALE,
        overrides=parse_model_args(model_arg),
    )
    model_scale = int(getattr(loaded, "upscale", 0) or 0)
    if not model_scale:
        raise OptionError(f"--model {model}: {model_label(loaded)} is not a super-resolution model (try `swinsr classify`)")
    if scale is not None and scale != model_scale:
        raise OptionError(
            f"--scale {scale}: model {model or model_label(loaded)} upscales x{model_scale}; "
            f"use --scale {model_scale}, or --outscale {scale} to resize its output to x{scale}"
        )
    upscaler = build_upscaler(
        loaded, tile=tile, tile_overlap=tile_overlap, precision=precision, device=device, ensemble=ensemble, alpha=alpha,
        compile=compile,
    )
    final = f"{outscale:g}" if outscale is not None else str(model_scale)
    run_image_batch(
        ctx, inputs, upscaler=upscaler, output=output, ext=ext, suffix=suffix, default_suffix=f"_x{final}",
        overwrite=overwrite, recursive=recursive, quiet=quiet, verb="upscaled", outscale=outscale,
        remark=f" (x{final}, {model_label(loaded, model)}, {upscaler.device.type}, {upscaler.precision})",
    )
