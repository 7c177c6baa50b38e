"""``swinsr inspect``: what a checkpoint contains, and which of its values were assumed."""

from __future__ import annotations

import json
from typing import Any, List, Optional

import typer
from rich.table import Table

from .app import app, console
from .model_args import MODEL_ARG_OPTION, parse_model_args


def split_notes(notes: list[str], given: dict[str, Any]) -> list[str]:
    """The notes about values *assumed* by detection: those not about a ``--model-arg`` name.

    :func:`swinsr.checkpoint.apply_overrides` drops the detection note of an overridden name and
    adds ``"<name> <value> given by the caller"``; those are reported from ``given`` instead.
    """
    return [n for n in notes if not any(n.split(" ", 1)[0] == k for k in given)]


@app.command("inspect")
def inspect_command(
    checkpoint: str = typer.Argument(
        ..., help="Checkpoint file (.pth, .pt, .ckpt, .safetensors) or embedded model name (see 'swinsr models')."
    ),
    model_arg: Optional[List[str]] = MODEL_ARG_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table."),
) -> None:
    """Detect a checkpoint's architecture and print its hyperparameters, parameter count, the values detection
    assumed (shapes cannot tell them) and those given with --model-arg."""
    from pathlib import Path

    from ..zoo import resolve_model

    given = parse_model_args(model_arg)
    model = resolve_model(checkpoint, overrides=given)
    spec = model.swinsr_spec
    n_params = sum(p.numel() for p in model.parameters())
    assumed = split_notes(list(spec.notes), given)
    info = {"file": str(checkpoint), **spec.to_dict(), "parameters": n_params, "assumed": assumed, "given": given}
    if as_json:
        console.print_json(json.dumps(info))
        return
    table = Table(title=f"{Path(checkpoint).name}: {spec.type_name}", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    table.add_row("architecture", f"{spec.type_name} ({spec.arch})")
    table.add_row("parameters", f"{n_params:,} ({n_params / 1e6:.2f} M)")
    for key, value in spec.kwargs.items():
        table.add_row(key, repr(value) + ("  (--model-arg)" if key in given else ""))
    for note in assumed:  # detection's notes: mostly values shapes cannot tell, and what was assumed for them
        table.add_row("assumed" if "assumed" in note or "convention" in note else "note", note)
    for key, value in given.items():
        table.add_row("given", f"{key}={value!r} (--model-arg)")
    console.print(table)
