"""The Swin V1 / V2 ImageNet classifiers (Microsoft's layout): model, detection, registration."""

from ..family import Family, register_family
from .detect import detect_swin, detect_swin_classifier, detect_swinv2
from .model import SwinClassifierBase, SwinTransformer, SwinTransformerV2

register_family(Family(
    name="swin", type_name="SwinTransformer", detect=detect_swin, order=90, task="classify",
    description="Swin Transformer V1 ImageNet classifier (Liu et al. 2021)",
))
register_family(Family(
    name="swinv2", type_name="SwinTransformerV2", detect=detect_swinv2, order=91, task="classify",
    description="Swin Transformer V2 ImageNet classifier (Liu et al. 2022)",
))

__all__ = ["SwinClassifierBase", "SwinTransformer", "SwinTransformerV2", "detect_swin", "detect_swin_classifier", "detect_swinv2"]
