"""Training data: datasets registered by option-file ``type:``, a resumable sampler, loaders.

Datasets return dicts of float ``(C, H, W)`` tensors in ``[0, 1]`` (``'lq'``, ``'gt'``) or
``('img', 'label')`` for classification, plus file paths.
"""

from . import degradation_datasets, imagefolder, sr_datasets  # noqa: F401  (registers the datasets)
from . import realesrgan_datasets  # noqa: F401  (registers RealESRGANDataset, RealESRGANPairedDataset)
from . import single_image_dataset  # noqa: F401  (registers SingleImageDataset: LQ only, for test sets)
from . import imagenet_paired_dataset  # noqa: F401  (registers ImageNetPairedDataset: HAT/DRCT ImageNet pre-training)
from .degradation_datasets import GaussianNoiseDataset, JPEGDataset
from .imagefolder import ImageFolderDataset
from .io import list_images, read_image, to_tensor, to_uint8, write_image
from .loader import build_dataloader, build_dataset
from .realesrgan_datasets import RealESRGANDataset, RealESRGANPairedDataset
from .registry import DATASET_REGISTRY
from .sampler import EnlargedSampler
from .sr_datasets import BicubicSRDataset, PairedImageDataset
from .store import ImageStore

__all__ = [
    "DATASET_REGISTRY",
    "BicubicSRDataset",
    "EnlargedSampler",
    "GaussianNoiseDataset",
    "ImageFolderDataset",
    "JPEGDataset",
    "ImageStore",
    "PairedImageDataset",
    "RealESRGANDataset",
    "RealESRGANPairedDataset",
    "build_dataloader",
    "build_dataset",
    "list_images",
    "read_image",
    "to_tensor",
    "to_uint8",
    "write_image",
]
