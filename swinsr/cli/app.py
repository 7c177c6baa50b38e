"""The ``swinsr`` Typer application; each command module registers itself on ``app``."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    name="swinsr",
    help="Image super-resolution and restoration with Swin Transformers (SwinIR, Swin2SR, HAT, DRCT, DAT, Swin V1/V2).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# stdout carries results (tables, JSON); messages and progress go to stderr
console = Console()
err_console = Console(stderr=True)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show Python tracebacks for errors (for bug reports)."),
) -> None:
    """Image super-resolution and restoration with Swin Transformers (SwinIR, Swin2SR, HAT, DRCT, DAT, Swin V1/V2)."""
