"""``swinsr models``: the embedded pretrained models."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from .app import app, console


@app.command("models")
def models_command(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the embedded models with scale, parameters, training data and measured PSNR."""
    from ..zoo import list_models

    models = list_models()
    if as_json:
        console.print_json(json.dumps([m.__dict__ for m in models]))
        return
    if not models:
        console.print("no embedded models are registered")
        return
    table = Table(title="embedded models")
    table.add_column("name", no_wrap=True)
    for col in ("scale", "default", "parameters", "Set5 PSNR-Y", "Set14 PSNR-Y", "training"):
        table.add_column(col)
    for m in models:
        psnr = {k: v.get("psnr_y") for k, v in m.metrics.items() if isinstance(v, dict)}
        fmt = lambda v: f"{v:.2f}" if isinstance(v, (int, float)) else "-"  # noqa: E731
        table.add_row(
            m.name, f"x{m.scale}", "yes" if m.default else "", f"{m.parameters:,}" if m.parameters else "-",
            fmt(psnr.get("Set5")), fmt(psnr.get("Set14")), m.training,
        )
    console.print(table)
