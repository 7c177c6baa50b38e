"""``swinsr restore``: denoising / JPEG artifact removal with upscale-1 models, on the upscale engine."""

from __future__ import annotations

import typer

from ..errors import OptionError
from .app import app
from .upscale_cmd import (
    ALPHA_OPTION,
    COMPILE_OPTION,
    DEVICE_OPTION,
    ENSEMBLE_OPTION,
    EXT_OPTION,
    INPUTS_ARGUMENT,
    MODEL_PATH_OPTION,
    OUTPUT_OPTION,
    OVERWRITE_OPTION,
    PRECISION_OPTION,
    QUIET_OPTION,
    RECURSIVE_OPTION,
    TILE_OPTION,
    TILE_OVERLAP_OPTION,
    build_upscaler,
    model_label,
    run_image_batch,
)


def training_remark(noise_sigma: float | None, jpeg_quality: int | None) -> str:
    """Summary remark for the (documentary) training-condition options."""
    if noise_sigma is not None and not 0 <= noise_sigma <= 255:
        raise OptionError(f"--noise-sigma {noise_sigma}: must be within 0-255")
    if jpeg_quality is not None and not 1 <= jpeg_quality <= 100:
        raise OptionError(f"--jpeg-quality {jpeg_quality}: must be within 1-100")
    conditions = []
    if noise_sigma is not None:
        conditions.append(f"noise sigma {noise_sigma:g}")
    if jpeg_quality is not None:
        conditions.append(f"JPEG quality {jpeg_quality}")
    return f"; model trained for {' and '.join(conditions)}" if conditions else ""


@app.command("restore")
def restore_command(
    ctx: typer.Context,
    inputs: list[str] = INPUTS_ARGUMENT,
    model: str = MODEL_PATH_OPTION,
    output: str | None = OUTPUT_OPTION,
    noise_sigma: float | None = typer.Option(
        None, "--noise-sigma",
        help="Documentation only: the noise level (0-255) the model was trained for. The weights fix what it removes.",
    ),
    jpeg_quality: int | None = typer.Option(
        None, "--jpeg-quality",
        help="Documentation only: the JPEG quality (1-100) the model was trained for. The weights fix what it removes.",
    ),
    tile: str = TILE_OPTION,
    tile_overlap: int = TILE_OVERLAP_OPTION,
    precision: str = PRECISION_OPTION,
    device: str = DEVICE_OPTION,
    ensemble: bool = ENSEMBLE_OPTION,
    compile: bool = COMPILE_OPTION,
    alpha: str = ALPHA_OPTION,
    ext: str | None = EXT_OPTION,
    suffix: str | None = typer.Option(
        None, "--suffix", help="Appended to output names (default: '_restored' next to the input, nothing inside an -o folder)."
    ),
    overwrite: bool = OVERWRITE_OPTION,
    recursive: bool = RECURSIVE_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Restore images (denoise, remove JPEG artifacts) with an upscale-1 SwinIR/Swin2SR model.

    Example: `swinsr restore noisy.png --model 005_colorDN_DFWB_s128w8_SwinIR-M_noise25.pth --noise-sigma 25`.
    """
    from ..zoo import resolve_model

    remark = training_remark(noise_sigma, jpeg_quality)
    loaded = resolve_model(model)
    scale = getattr(loaded, "upscale", None)
    if scale is None:
        raise OptionError(f"--model {model}: {model_label(loaded)} is not a restoration model (try `swinsr classify`)")
    if int(scale) != 1:
        raise OptionError(f"--model {model}: this is a x{scale} super-resolution model; use `swinsr upscale` for it")
    upscaler = build_upscaler(
        loaded, tile=tile, tile_overlap=tile_overlap, precision=precision, device=device, ensemble=ensemble, alpha=alpha,
        compile=compile,
    )
    run_image_batch(
        ctx, inputs, upscaler=upscaler, output=output, ext=ext, suffix=suffix, default_suffix="_restored",
        overwrite=overwrite, recursive=recursive, quiet=quiet, verb="restored",
        remark=f" ({model_label(loaded)}, {upscaler.device.type}, {upscaler.precision}{remark})",
    )
