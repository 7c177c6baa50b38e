"""Old import path of the Swin V1 / V2 classifiers (now ``swinsr.archs.swin``)."""

from .swin.model import SwinClassifierBase, SwinTransformer, SwinTransformerV2  # noqa: F401
