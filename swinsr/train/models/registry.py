"""The training-model registry, keyed by ``model_type`` in option files."""

from ...registry import Registry

MODEL_REGISTRY = Registry("model")
