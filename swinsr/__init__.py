"""swinsr: image super-resolution and restoration with Swin Transformers.

Public API::

    import swinsr
    model = swinsr.load_model("001_classicalSR_DF2K_s64w8_SwinIR-M_x2.pth")   # any released SwinIR/Swin2SR/HAT/DRCT/DAT/Swin file
    spec = swinsr.detect(state_dict)          # architecture + reference constructor kwargs
    swinsr.save_checkpoint(model, "model.safetensors")
"""

from .archs import (
    ARCH_REGISTRY,
    DAT,
    DRCT,
    HAT,
    Family,
    SRModel,
    Swin2SR,
    SwinIR,
    SwinTransformer,
    SwinTransformerV2,
    UNetDiscriminatorSN,
    build_model,
    families,
    register_family,
)
from .allocator import tune_allocator
from .archs.swinir import grow_depth
from .degradations import RealESRGANDegradation
from .checkpoint import load_model, reference_state_dict, save_checkpoint
from .detect import ModelSpec, detect
from .export import compile_model, export_onnx
from .errors import CheckpointError, ImageError, OptionError, SwinSRError
from .inference import Upscaler
from .hf import load_hf_model
from .imresize import imresize
from .layers import SwinBlock, SwinStage, SwinT, WindowAttention, WindowAttentionV2, shifted_window_mask
from .metrics import calculate_psnr, calculate_ssim
from .train.loop import train_pipeline

__version__ = "0.1.0"

__all__ = [
    "ARCH_REGISTRY",
    "CheckpointError",
    "DAT",
    "DRCT",
    "Family",
    "HAT",
    "ImageError",
    "ModelSpec",
    "SRModel",
    "OptionError",
    "RealESRGANDegradation",
    "Swin2SR",
    "SwinBlock",
    "SwinIR",
    "SwinSRError",
    "SwinStage",
    "SwinT",
    "SwinTransformer",
    "SwinTransformerV2",
    "UNetDiscriminatorSN",
    "Upscaler",
    "WindowAttention",
    "WindowAttentionV2",
    "build_model",
    "calculate_psnr",
    "calculate_ssim",
    "compile_model",
    "detect",
    "export_onnx",
    "families",
    "grow_depth",
    "imresize",
    "load_hf_model",
    "load_model",
    "reference_state_dict",
    "register_family",
    "save_checkpoint",
    "shifted_window_mask",
    "train_pipeline",
    "tune_allocator",
    "__version__",
]
