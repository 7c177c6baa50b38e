"""The architecture registry: ``network_g: {type: SwinIR, ...}`` in option files resolves here."""

from ..registry import Registry

ARCH_REGISTRY = Registry("arch")
