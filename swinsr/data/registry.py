"""The dataset registry, keyed by the ``type:`` of ``datasets.<phase>`` option sections."""

from ..registry import Registry

DATASET_REGISTRY = Registry("dataset")
