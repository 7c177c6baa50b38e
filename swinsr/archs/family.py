"""Architecture families: one registration per family, asked by detection, loading and benchmarks.

A family package (``swinsr/archs/<family>/``) defines its model classes, a ``detect`` function that
reads the reference constructor arguments off a state dict, and its named configurations, then
calls :func:`register_family` once. :func:`swinsr.detect.detect` tries the families in ``order``
(lower first); a family's ``detect`` returns ``None`` when the layout is not its own, so a family
with a superset layout (HAT's blocks add a conv branch to SwinIR's) must come *before* the one
it extends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

import torch

from ..errors import CheckpointError

Detector = Callable[[Mapping[str, torch.Tensor]], "Any | None"]  # -> ModelSpec | None


@dataclass(frozen=True)
class Family:
    """One architecture family as the rest of swinsr sees it.

    Attributes:
        name: ``ModelSpec.arch`` (``'swinir'``, ``'hat'``, ...).
        type_name: the ``ARCH_REGISTRY`` / option-file ``type:`` name (``'SwinIR'``, ``'HAT'``).
        detect: reference-layout state dict -> ``ModelSpec``, or ``None`` if not this family's.
        order: detection order, lower first.
        task: ``'sr'`` (image to image, :class:`~swinsr.archs.contract.SRModel`) or ``'classify'``.
        presets: named released configurations (e.g. ``'hat-s-x4'``) -> reference constructor
            kwargs; ``swinsr bench-speed`` offers them.
        test_configs: small configurations (kwargs) covering the family's variants (heads,
            upsamplers, options); the generic contract tests build, run, save and reload each.
        description: one line for ``--help`` texts and the README.
    """

    name: str
    type_name: str
    detect: Detector
    order: int
    task: str = "sr"
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    test_configs: tuple[Mapping[str, Any], ...] = ()
    description: str = ""


_FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Add ``family`` (once; registering the same name twice is a programming error)."""
    if family.name in _FAMILIES and _FAMILIES[family.name] is not family:
        raise ValueError(f"architecture family {family.name!r} is registered twice")
    _FAMILIES[family.name] = family
    return family


def families(task: str | None = None) -> list[Family]:
    """Registered families in detection order (optionally only those of ``task``)."""
    return sorted((f for f in _FAMILIES.values() if task is None or f.task == task), key=lambda f: (f.order, f.name))


def get_family(name: str) -> Family:
    """The family called ``name`` (a ``ModelSpec.arch``) or whose ``type_name`` is ``name``."""
    if name in _FAMILIES:
        return _FAMILIES[name]
    for f in _FAMILIES.values():
        if f.type_name == name:
            return f
    raise CheckpointError(f"unknown architecture {name!r}; known: {', '.join(f.name for f in families())}")


def presets(task: str | None = "sr") -> dict[str, tuple[str, dict[str, Any]]]:
    """Every family's named configurations: name -> (registry type name, kwargs)."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for f in families(task):
        for name, kwargs in f.presets.items():
            out[name] = (f.type_name, dict(kwargs))
    return out


def family_names(task: str | None = None) -> Iterator[str]:
    """Names of the registered families (for help texts and error messages)."""
    return (f.name for f in families(task))
