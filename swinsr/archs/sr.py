"""Old import path of the SwinIR / Swin2SR models (now ``swinsr.archs.swinir``) and SR heads."""

from .heads import NUM_FEAT, RGB_MEAN, UPSAMPLERS, Upsample, UpsampleOneStep, residual_conv  # noqa: F401
from .swinir.model import RSTB, Swin2SR, SwinIR, SwinSRBase  # noqa: F401
