"""What detection finds: a family name and the reference constructor arguments."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch.nn as nn


@dataclass
class ModelSpec:
    """An architecture family (``arch``) and the reference constructor arguments (``kwargs``).

    ``notes`` lists the values that shapes could not tell and were assumed by convention.
    """

    arch: str
    kwargs: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def type_name(self) -> str:
        """The registry / option-file ``type:`` name (``SwinIR``, ``HAT``, ...)."""
        from .family import get_family

        return get_family(self.arch).type_name

    def build(self) -> nn.Module:
        """Instantiate the model (random weights)."""
        from .registry import ARCH_REGISTRY

        return ARCH_REGISTRY.build(self.type_name, **self.kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch, "type": self.type_name, "kwargs": dict(self.kwargs), "notes": list(self.notes)}
