"""``swinsr export``: a model as an ONNX graph."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .app import app, console, err_console
from .model_args import MODEL_ARG_OPTION, parse_model_args


@app.command("export")
def export_command(
    model: str = typer.Argument(..., help="Checkpoint path or embedded model name (see 'swinsr models')."),
    model_arg: Optional[List[str]] = MODEL_ARG_OPTION,
    output: Path = typer.Option(..., "-o", "--output", help="ONNX file to write (atomically; parent folders are created)."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset version (17 or newer)."),
    tile: Optional[int] = typer.Option(
        None, "--tile", help="Fix the input to TILE x TILE pixels (rounded up to the window size). "
        "Default: dynamic height and width (multiples of the window size)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing ONNX file at -o."),
) -> None:
    """Export a model to ONNX with a dynamic batch and, unless --tile is given, dynamic height and width."""
    from ..errors import ExportError, OptionError
    from ..export import export_onnx
    from ..zoo import resolve_model

    if output.exists() and output.is_dir():
        raise OptionError(f"-o {output}: is a folder; give a file name such as {output / 'model.onnx'}")
    if output.suffix.lower() != ".onnx":
        raise OptionError(f"-o {output}: give an ONNX file name ending in .onnx")
    if output.exists() and not overwrite:
        raise OptionError(f"-o {output}: exists; add --overwrite to replace it")
    net = resolve_model(model, device="cpu", overrides=parse_model_args(model_arg))
    err_console.print(f"exporting {type(net).__name__} to ONNX (opset {opset}); this traces the model and can take minutes")
    try:
        path = export_onnx(net, output, opset=opset, tile=tile)
    except ExportError as exc:
        raise ExportError(f"{model}: {exc}") from exc  # name the model: the exporter's message names only operators
    ws = getattr(net, "size_multiple", 1)
    shape = f"{tile}x{tile}" if tile else f"H and W multiples of {ws}"
    console.print(f"wrote {path} (input 'input' N x {net.in_chans} x {shape}, float32 in [0, 1])")
