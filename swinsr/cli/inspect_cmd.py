"""``swinsr inspect``: what a checkpoint contains."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from .app import app, console


@app.command("inspect")
def inspect_command(
    checkpoint: Path = typer.Argument(..., help="Checkpoint file (.pth, .pt, .ckpt, .safetensors)."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table."),
) -> None:
    """Detect a checkpoint's architecture and print its hyperparameters and parameter count."""
    from ..checkpoint import load_model

    model = load_model(checkpoint)
    spec = model.swinsr_spec
    n_params = sum(p.numel() for p in model.parameters())
    info = {"file": str(checkpoint), **spec.to_dict(), "parameters": n_params}
    if as_json:
        console.print_json(json.dumps(info))
        return
    table = Table(title=f"{checkpoint.name}: {spec.type_name}", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    table.add_row("architecture", f"{spec.type_name} ({spec.arch})")
    table.add_row("parameters", f"{n_params:,} ({n_params / 1e6:.2f} M)")
    for key, value in spec.kwargs.items():
        table.add_row(key, repr(value))
    for note in spec.notes:
        table.add_row("note", note)
    console.print(table)
