"""Named pretrained models shipped inside the package (``swinsr/weights``).

``swinsr/weights/registry.json`` describes each embedded model::

    {"swinsr-light-x4": {"file": "swinsr-light-x4.safetensors", "scale": 4, "task": "sr",
                         "default": true, "parameters": 897000, "training": "...",
                         "metrics": {"Set5": {"psnr_y": 31.2, "ssim_y": 0.88}, ...}}}

``task`` is what a model is for (:data:`TASKS`): ``sr`` (classical super-resolution of clean
bicubic LR), ``real`` (real-world super-resolution: noisy, blurred, compressed photos),
``denoise`` and ``jpeg`` (scale-1 restoration). ``default`` marks the default of its
``(task, scale)``; the metrics' layout depends on the task (see ``scripts/export_default_model.py``).

:func:`resolve_model` is what commands call with ``--model``: a registered name, a checkpoint
path, or nothing (the default for the requested task and scale).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn as nn

from .errors import OptionError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
REGISTRY_FILE = WEIGHTS_DIR / "registry.json"

#: What an embedded model is for, in the order ``swinsr models`` lists them.
TASKS = ("sr", "real", "denoise", "jpeg")
#: Pseudo-task of ``swinsr upscale``: photos are real-world input, so the ``real`` default of the
#: scale when one is registered, else the classical ``sr`` one.
UPSCALE = "upscale"
UPSCALE_PREFERENCE = ("real", "sr")


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


_FIELDS = {f.name for f in dataclasses.fields(PretrainedModel)} - {"name"}


def list_models() -> list[PretrainedModel]:
    """All registered embedded models, sorted by name (registry keys this version does not know are ignored)."""
    if not REGISTRY_FILE.exists():
        return []
    entries = json.loads(REGISTRY_FILE.read_text())
    models = (PretrainedModel(name=k, **{f: v for f, v in e.items() if f in _FIELDS}) for k, e in entries.items())
    return sorted(models, key=lambda m: m.name)


def get_model_info(name: str) -> PretrainedModel:
    """Registry entry for ``name``; unknown names raise :class:`OptionError` listing known ones."""
    for m in list_models():
        if m.name == name:
            return m
    known = ", ".join(m.name for m in list_models()) or "none yet"
    raise OptionError(f"unknown model name {name!r} (registered: {known}); or pass a checkpoint path")


def default_model_name(scale: int, task: str = "sr") -> str | None:
    """The registered default of ``(task, scale)`` (None when there is none).

    ``task`` defaults to classical ``sr``: what ``swinsr benchmark`` scores. ``swinsr upscale``
    asks :func:`upscale_default_name` instead.
    """
    for m in list_models():
        if m.default and m.scale == scale and m.task == task:
            return m.name
    return None


def upscale_default_name(scale: int) -> str | None:
    """What ``swinsr upscale --scale S`` runs: the real-world default of ``S``, else the classical one."""
    for task in UPSCALE_PREFERENCE:
        name = default_model_name(scale, task)
        if name is not None:
            return name
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


def load_pretrained(
    name: str, *, device: str | torch.device | None = None, overrides: Mapping[str, Any] | None = None
) -> nn.Module:
    """Load a registered embedded model by name (eval mode); ``overrides`` as for :func:`swinsr.load_model`."""
    from .checkpoint import load_model

    info = get_model_info(name)
    model = load_model(info.path, device=device, **dict(overrides or {}))
    model.swinsr_name = name  # type: ignore[attr-defined]
    return model


def _no_default(task: str | None, scale: int) -> OptionError:
    """The error for a missing ``(task, scale)`` default, saying which defaults do exist."""
    sr_tasks = UPSCALE_PREFERENCE if task == UPSCALE else (task or "sr",)
    have = sorted({m.scale for m in list_models() if m.default and m.task in sr_tasks})
    have_txt = f"defaults exist for x{', x'.join(map(str, have))}" if have else "no embedded defaults exist yet"
    kind = "real-world " if task == "real" else ""
    return OptionError(f"no embedded {kind}default model for x{scale} ({have_txt}); pass --model NAME or --model PATH")


def resolve_model(
    model: str | Path | None,
    *,
    scale: int | None = None,
    device: str | torch.device | None = None,
    task: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> nn.Module:
    """Load what a ``--model`` option names.

    ``None`` -> an embedded default: for ``task`` ``"denoise"``/``"jpeg"`` the task's default; for
    :data:`UPSCALE` the real-world default of ``scale`` when there is one, else the classical one;
    for ``"real"`` the real-world default of ``scale``; otherwise (``None``/``"sr"``) the classical
    default of ``scale``. An existing path -> :func:`swinsr.load_model`; otherwise a registered
    name. ``overrides`` (``--model-arg``) are constructor arguments passed to
    :func:`swinsr.load_model` (unknown names: :class:`~swinsr.errors.CheckpointError`). Errors are
    :class:`OptionError` with what to do instead.
    """
    from .checkpoint import load_model

    if model is None and task in RESTORATION_DEFAULTS:
        name = task_default_name(task)
        if name is None:
            wanted = RESTORATION_DEFAULTS.get(task, f"a {task} model")
            raise OptionError(
                f"no embedded default model for --task {task}: {wanted} is not registered in "
                f"swinsr/weights/registry.json; pass --model NAME or --model PATH"
            )
        return load_pretrained(name, device=device, overrides=overrides)
    if model is None:
        if scale is None:
            raise OptionError("no --model given and no --scale to pick a default model")
        name = upscale_default_name(scale) if task == UPSCALE else default_model_name(scale, task or "sr")
        if name is None:
            raise _no_default(task, scale)
        return load_pretrained(name, device=device, overrides=overrides)
    text = str(model)
    if Path(text).exists() or any(text.lower().endswith(s) for s in (".pth", ".pt", ".ckpt", ".safetensors", ".bin")):
        return load_model(text, device=device, **dict(overrides or {}))
    return load_pretrained(text, device=device, overrides=overrides)
