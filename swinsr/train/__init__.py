"""Training from BasicSR-format YAML option files: ``swinsr train -opt FILE``.

``train_pipeline`` runs a whole training; ``parse_options`` validates an option file.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TrainResult", "parse_options", "train_pipeline"]


def __getattr__(name: str) -> Any:
    # lazy: submodules (schema, options) are imported by swinsr.data and must not pull in the loop
    if name in ("train_pipeline", "TrainResult"):
        from . import loop

        return getattr(loop, name)
    if name == "parse_options":
        from .options import parse_options

        return parse_options
    raise AttributeError(name)
