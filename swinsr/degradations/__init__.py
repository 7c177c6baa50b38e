"""Real-ESRGAN's synthetic degradations: blur kernels, batched torch operators, the second-order chain.

* :mod:`.kernels` -- numpy blur kernels (Gaussian, generalized Gaussian, plateau, sinc) and the
  random mix of them;
* :mod:`.ops` -- torch ``filter2d``, :class:`USMSharp`, Gaussian/Poisson noise, random resize;
* :mod:`.jpeg` -- JPEG compression in torch (the DiffJPEG algorithm), per-sample quality;
* :mod:`.pipeline` -- :class:`RealESRGANKernels` (per sample, in the dataset) and
  :class:`RealESRGANDegradation` (per batch, in the model).

Reference semantics are BasicSR's / Real-ESRGAN's; ``../shared/fixtures/degradations`` holds
golden outputs of their functions that the tests compare against.
"""

from .jpeg import DiffJPEG, jpeg_compress
from .kernels import (
    KERNEL_TYPES,
    bivariate_gaussian,
    bivariate_generalized_gaussian,
    bivariate_plateau,
    circular_lowpass_kernel,
    random_mixed_kernel,
)
from .ops import USMSharp, filter2d, gaussian_noise, poisson_noise, random_noise, random_resize, resize
from .pipeline import DEGRADATION_DEFAULTS, KERNEL_DEFAULTS, RealESRGANDegradation, RealESRGANKernels

__all__ = [
    "DEGRADATION_DEFAULTS",
    "KERNEL_DEFAULTS",
    "KERNEL_TYPES",
    "DiffJPEG",
    "RealESRGANDegradation",
    "RealESRGANKernels",
    "USMSharp",
    "bivariate_gaussian",
    "bivariate_generalized_gaussian",
    "bivariate_plateau",
    "circular_lowpass_kernel",
    "filter2d",
    "gaussian_noise",
    "jpeg_compress",
    "poisson_noise",
    "random_mixed_kernel",
    "random_noise",
    "random_resize",
    "resize",
]
