"""Architecture detection: which family a state dict belongs to, and its constructor arguments.

Each family's rules live next to its model (``swinsr/archs/<family>/detect.py``); this module only
asks the registered families in their detection order (:func:`swinsr.archs.families`). Values
that shapes cannot carry are listed in :attr:`ModelSpec.notes`.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from .archs import ARCH_REGISTRY, families
from .archs.spec import ModelSpec
from .archs.swin.detect import detect_swin_classifier  # noqa: F401  (old import path)
from .archs.swinir.detect import detect_swin_sr  # noqa: F401  (old import path)
from .errors import CheckpointError

__all__ = ["DERIVED_BUFFERS", "FAMILIES", "ModelSpec", "derived_buffers", "detect", "detect_canonical", "is_derived_buffer"]


def derived_buffers() -> tuple[str, ...]:
    """Every registered model class's recomputed buffer names (last key component)."""
    names: set[str] = set()
    for type_name in ARCH_REGISTRY:
        names.update(getattr(ARCH_REGISTRY.get(type_name), "DERIVED_BUFFERS", ()))
    return tuple(sorted(names))


def is_derived_buffer(key: str, names: tuple[str, ...] | None = None) -> bool:
    """True for buffers recomputed from the configuration (never loaded from a file).

    ``names`` are one model's ``DERIVED_BUFFERS``; default: those of every registered model.
    """
    return key.rsplit(".", 1)[-1] in (derived_buffers() if names is None else names)


def detect_canonical(sd: Mapping[str, torch.Tensor]) -> ModelSpec:
    """:func:`detect` for a state dict already in a reference layout (no conversion)."""
    for family in families():
        try:
            spec = family.detect(sd)
        except KeyError as exc:
            raise CheckpointError(f"incomplete {family.type_name} state dict: missing {exc.args[0]!r}") from None
        if spec is not None:
            return spec
    sample = ", ".join(list(sd)[:4]) or "(no tensors)"
    known = ", ".join(f.type_name for f in families())
    raise CheckpointError(f"not a state dict of a supported architecture ({known}); first keys: {sample}")


def detect(state_dict: Mapping[str, Any]) -> ModelSpec:
    """Identify the architecture and reference constructor arguments of a state dict.

    Accepts an unwrapped state dict (see :func:`swinsr.checkpoint.unwrap_state_dict`) in a
    reference layout or a foreign one (Hugging Face, ``module.`` prefixes), which is converted
    first. Raises :class:`~swinsr.errors.CheckpointError` when no registered family claims it.
    """
    from .convert import checkpoint_filter_fn

    return detect_canonical(checkpoint_filter_fn(state_dict))


def __getattr__(name: str) -> Any:
    # computed on access: families registered after import (plugins, new packages) count too
    if name == "DERIVED_BUFFERS":
        return derived_buffers()
    if name == "FAMILIES":
        return tuple(f.name for f in families())
    raise AttributeError(name)
