"""Training models registered by ``model_type``: SRModel / SwinIRModel, ClassificationModel."""

from .base import BaseModel
from .classification_model import ClassificationModel
from .registry import MODEL_REGISTRY
from .sr_model import SRModel, SwinIRModel

__all__ = ["MODEL_REGISTRY", "BaseModel", "ClassificationModel", "SRModel", "SwinIRModel"]
