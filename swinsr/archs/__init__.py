"""Model architectures, registered by the names used in option files' ``type:`` keys.

Each architecture family is one package (model, detection, named configurations) that registers
itself once with :func:`~swinsr.archs.family.register_family`; importing the package is all it
takes. Detection order is the families' ``order``, not the import order below.
"""

from typing import Any

import torch.nn as nn

from .contract import ConfiguredModule, SRModel, model_contract
from .family import Family, families, get_family, presets, register_family
from .registry import ARCH_REGISTRY
from .spec import ModelSpec

# --- architecture families (one import each; the package registers itself) ---
from . import swinir  # noqa: E402  SwinIR, Swin2SR
from . import swin  # noqa: E402  Swin V1 / V2 classifiers
from . import hat  # noqa: E402  HAT
from . import drct  # noqa: E402  DRCT
from . import dat  # noqa: E402  DAT, DAT-S, DAT-2, DAT-light
# --- end of families ---
from . import discriminator  # noqa: E402,F401  UNetDiscriminatorSN for network_d (GAN training; not a detectable family)

from .dat import DAT  # noqa: E402
from .discriminator import UNetDiscriminatorSN  # noqa: E402
from .drct import DRCT  # noqa: E402
from .hat import HAT  # noqa: E402
from .swin import SwinClassifierBase, SwinTransformer, SwinTransformerV2  # noqa: E402
from .swinir import Swin2SR, SwinIR, SwinSRBase  # noqa: E402

#: family name -> registry type name (kept for old callers; prefer :func:`get_family`)
ARCH_NAMES = {f.name: f.type_name for f in families()}


def build_model(arch: str, **kwargs: Any) -> nn.Module:
    """Build ``arch`` (a registry name like ``'SwinIR'`` or a family like ``'swinir'``) from kwargs."""
    name = arch if arch in ARCH_REGISTRY else get_family(arch).type_name
    return ARCH_REGISTRY.build(name, **kwargs)


__all__ = [
    "ARCH_NAMES",
    "ARCH_REGISTRY",
    "ConfiguredModule",
    "DAT",
    "DRCT",
    "Family",
    "HAT",
    "ModelSpec",
    "SRModel",
    "Swin2SR",
    "SwinClassifierBase",
    "SwinIR",
    "SwinSRBase",
    "SwinTransformer",
    "SwinTransformerV2",
    "UNetDiscriminatorSN",
    "build_model",
    "families",
    "get_family",
    "model_contract",
    "presets",
    "register_family",
]
