"""Named pretrained models shipped inside the package (``swinsr/weights``).

``swinsr/weights/registry.json`` describes each embedded model::

    {"swinsr-light-x4": {"file": "swinsr-light-x4.safetensors", "scale": 4, "task": "sr",
                         "default": true, "parameters": 897000, "training": "...",
                         "metrics": {"Set5": {"psnr_y": 31.2, "ssim_y": 0.88}, ...}}}

:func:`resolve_model` is what commands call with ``--model``: a registered name, a checkpoint
path, or nothing (the default for the requested scale).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .errors import OptionError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
REGISTRY_FILE = WEIGHTS_DIR / "registry.json"


@dataclass
class PretrainedModel:
    """One embedded model and what is known about it."""

    name: str
    file: str
    scale: int
    task: str = "sr"
    default: bool = False
    parameters: int | None = None
    training: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.file


def list_models() -> list[PretrainedModel]:
    """All registered embedded models, sorted by name."""
    if not REGISTRY_FILE.exists():
        return []
    entries = json.loads(REGISTRY_FILE.read_text())
    return sorted((PretrainedModel(name=k, **v) for k, v in entries.items()), key=lambda m: m.name)


def get_model_info(name: str) -> PretrainedModel:
    """Registry entry for ``name``; unknown names raise :class:`OptionError` listing known ones."""
    for m in list_models():
        if m.name == name:
            return m
    known = ", ".join(m.name for m in list_models()) or "none yet"
    raise OptionError(f"unknown model name {name!r} (registered: {known}); or pass a checkpoint path")


def default_model_name(scale: int) -> str | None:
    """The registered default for ``scale`` (None when no default exists for that scale)."""
    for m in list_models():
        if m.default and m.scale == scale:
            return m.name
    return None


#: The embedded blind restoration models by task (``swinsr benchmark/restore --task``); registry
#: entries for them carry ``"task": "denoise"`` / ``"jpeg"``, ``"scale": 1`` and ``"default": true``.
RESTORATION_DEFAULTS = {"denoise": "swinsr-denoise", "jpeg": "swinsr-dejpeg"}


def task_default_name(task: str) -> str | None:
    """The registered default for a restoration ``task`` (``"denoise"``, ``"jpeg"``), or None.

    Like :func:`default_model_name`, keyed by task instead of scale: the entry marked ``default``
    with that ``task``; failing that, the conventional name of :data:`RESTORATION_DEFAULTS` if it
    is registered at all.
    """
    models = list_models()
    for m in models:
        if m.default and m.task == task:
            return m.name
    wanted = RESTORATION_DEFAULTS.get(task)
    return wanted if any(m.name == wanted for m in models) else None


def load_pretrained(name: str, *, device: str | torch.device | None = None) -> nn.Module:
    """Load a registered embedded model by name (eval mode)."""
    from .checkpoint import load_model

    info = get_model_info(name)
    model = load_model(info.path, device=device)
    model.swinsr_name = name  # type: ignore[attr-defined]
    return model


def resolve_model(
    model: str | Path | None,
    *,
    scale: int | None = None,
    device: str | torch.device | None = None,
    task: str | None = None,
) -> nn.Module:
    """Load what a ``--model`` option names.

    ``None`` -> the embedded default for ``task`` (``"denoise"``/``"jpeg"``) when given, else for
    ``scale``; an existing path -> :func:`swinsr.load_model`; otherwise a registered name. Errors
    are :class:`OptionError` with what to do instead.
    """
    from .checkpoint import load_model

    if model is None and task is not None and task != "sr":
        name = task_default_name(task)
        if name is None:
            wanted = RESTORATION_DEFAULTS.get(task, f"a {task} model")
            raise OptionError(
                f"no embedded default model for --task {task}: {wanted} is not registered in "
                f"swinsr/weights/registry.json; pass --model NAME or --model PATH"
            )
        return load_pretrained(name, device=device)
    if model is None:
        if scale is None:
            raise OptionError("no --model given and no --scale to pick a default model")
        name = default_model_name(scale)
        if name is None:
            have = sorted({m.scale for m in list_models() if m.default})
            have_txt = f"defaults exist for x{', x'.join(map(str, have))}" if have else "no embedded defaults exist yet"
            raise OptionError(f"no embedded default model for x{scale} ({have_txt}); pass --model NAME or --model PATH")
        return load_pretrained(name, device=device)
    text = str(model)
    if Path(text).exists() or any(text.lower().endswith(s) for s in (".pth", ".pt", ".ckpt", ".safetensors", ".bin")):
        return load_model(text, device=device)
    return load_pretrained(text, device=device)
