"""The loss registry, keyed by the ``type:`` of ``train.pixel_opt`` / ``train.perceptual_opt``."""

from ..registry import Registry

LOSS_REGISTRY = Registry("loss")
