"""Inference engine shared by ``swinsr upscale``, ``restore`` and ``classify``.

:class:`Upscaler` runs an SR/restoration model on images of any size (tiling with feathered
blending, precision/device choice, self-ensemble, alpha and gray handling); :class:`Classifier`
runs Swin V1/V2 classifiers with the reference preprocessing; :mod:`.batch` plans and runs the
commands' batches.
"""

from .classify import Classifier
from .ensemble import self_ensemble
from .precision import resolve_device, resolve_precision
from .tiling import tiled_forward
from .upscaler import Upscaler, output_size

__all__ = ["Classifier", "Upscaler", "output_size", "resolve_device", "resolve_precision", "self_ensemble", "tiled_forward"]
