"""``swinsr classify``: top-k ImageNet classes from a Swin V1/V2 checkpoint."""

from __future__ import annotations

import json
from typing import List, Optional

import typer

from ..errors import OptionError, SwinSRError
from .app import app, console, err_console
from .model_args import MODEL_ARG_OPTION, parse_model_args
from .upscale_cmd import DEVICE_OPTION, PRECISION_OPTION, RECURSIVE_OPTION


@app.command("classify")
def classify_command(
    images: list[str] = typer.Argument(..., help="Image files, folders or glob patterns.", metavar="IMAGE..."),
    model: str = typer.Option(..., "--model", "-m", help="Swin V1/V2 classifier checkpoint (path or registered name)."),
    model_arg: Optional[List[str]] = MODEL_ARG_OPTION,
    topk: int = typer.Option(5, "--topk", "-k", help="How many classes to print per image."),
    device: str = DEVICE_OPTION,
    precision: str = PRECISION_OPTION,
    recursive: bool = RECURSIVE_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON (one object per image) instead of text."),
) -> None:
    """Print the top classes of each image (reference preprocessing: resize, center crop, ImageNet mean/std).

    Exit 0 when every image was classified, 1 when any could not be read, 2 for usage errors.
    """
    from ..imageio import read_image
    from ..inference.batch import collect_inputs
    from ..inference.classify import Classifier
    from ..zoo import resolve_model

    overrides = parse_model_args(model_arg)
    if topk < 1:
        raise OptionError(f"--topk {topk}: must be >= 1")
    found, missing, _ = collect_inputs(images, recursive=recursive)
    if not found and not missing:
        raise OptionError(f"no images found in {', '.join(images)}")
    classifier = Classifier(resolve_model(model, overrides=overrides), device=device, precision=precision)
    if classifier.names_note and not as_json:
        err_console.print(f"note: {classifier.names_note}", highlight=False)
    failed = 0
    for job in missing:
        failed += 1
        err_console.print(f"[red]error:[/] {job.error}", highlight=False, soft_wrap=True)
    results = []
    for item in found:
        try:
            preds = classifier.predict([read_image(item.path).array], topk)[0]
        except SwinSRError as exc:
            failed += 1
            err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
            continue
        if as_json:
            results.append({"image": str(item.path), "top": [p.__dict__ for p in preds]})
            continue
        console.print(str(item.path), highlight=False, markup=False)
        for rank, p in enumerate(preds, 1):
            console.print(f"  {rank}. {p.name:<40} {p.probability:7.2%}  (index {p.index})", highlight=False, markup=False)
    if as_json:
        console.print_json(json.dumps(results))
    raise typer.Exit(1 if failed else 0)
