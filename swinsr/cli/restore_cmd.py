"""``swinsr restore``: denoising / JPEG artifact removal with upscale-1 models, on the upscale engine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Mapping, Optional

import typer

from ..errors import OptionError
from .app import app
from .model_args import MODEL_ARG_OPTION, parse_model_args
from .upscale_cmd import (
    ALPHA_OPTION,
    COMPILE_OPTION,
    DEVICE_OPTION,
    ENSEMBLE_OPTION,
    EXT_OPTION,
    INPUTS_ARGUMENT,
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

if TYPE_CHECKING:
    import torch.nn as nn

TASK_CHOICES = ("denoise", "jpeg")


def resolve_restoration_model(
    model: str | None, task: str | None, overrides: Mapping[str, Any] | None = None
) -> "nn.Module":
    """The module ``restore`` runs: ``--model`` when given (it wins over ``--task``), else the embedded
    blind default for ``--task`` (``swinsr-denoise`` / ``swinsr-dejpeg``); ``overrides``: ``--model-arg``."""
    from ..zoo import resolve_model

    if task is not None and task not in TASK_CHOICES:
        raise OptionError(f"--task {task}: choose {' or '.join(TASK_CHOICES)}")
    if model is None and task is None:
        raise OptionError("give --task denoise|jpeg (the embedded blind models) or --model NAME|PATH")
    return resolve_model(model, task=task if model is None else None, overrides=overrides)


@app.command("restore")
def restore_command(
    ctx: typer.Context,
    inputs: list[str] = INPUTS_ARGUMENT,
    model: str | None = typer.Option(
        None, "--model", "-m",
        help="Checkpoint path or registered model name (wins over --task); default: the embedded model of --task.",
    ),
    task: str | None = typer.Option(
        None, "--task", "-t",
        help="denoise or jpeg: run the embedded blind model for it (swinsr-denoise: noise sigma 0-50; "
        "swinsr-dejpeg: quality 10-90). No level is needed.",
    ),
    model_arg: Optional[List[str]] = MODEL_ARG_OPTION,
    output: str | None = OUTPUT_OPTION,
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

    Examples: `swinsr restore noisy.png --task denoise`, `swinsr restore photo.jpg --task jpeg`,
    `swinsr restore noisy.png --model 005_colorDN_DFWB_s128w8_SwinIR-M_noise25.pth`.
    """
    loaded = resolve_restoration_model(model, task, parse_model_args(model_arg))
    label = model or model_label(loaded)
    scale = getattr(loaded, "upscale", None)
    if scale is None:
        raise OptionError(f"--model {label}: {model_label(loaded)} is not a restoration model (try `swinsr classify`)")
    if int(scale) != 1:
        raise OptionError(f"--model {label}: this is a x{scale} super-resolution model; use `swinsr upscale` for it")
    upscaler = build_upscaler(
        loaded, tile=tile, tile_overlap=tile_overlap, precision=precision, device=device, ensemble=ensemble, alpha=alpha,
        compile=compile,
    )
    run_image_batch(
        ctx, inputs, upscaler=upscaler, output=output, ext=ext, suffix=suffix, default_suffix="_restored",
        overwrite=overwrite, recursive=recursive, quiet=quiet, verb="restored",
        remark=f" ({model_label(loaded, model)}, {upscaler.device.type}, {upscaler.precision})",
    )
