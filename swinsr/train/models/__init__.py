"""Training models registered by ``model_type``: SRModel / SwinIRModel, ClassificationModel,
RealESRNetModel / RealESRGANModel (and HAT's / DRCT's names for them)."""

from .base import BaseModel
from .classification_model import ClassificationModel
from .realesrgan_model import RealESRGANModel, RealESRNetModel
from .registry import MODEL_REGISTRY
from .sr_model import SRModel, SwinIRModel

__all__ = ["MODEL_REGISTRY", "BaseModel", "ClassificationModel", "RealESRGANModel", "RealESRNetModel", "SRModel", "SwinIRModel"]
