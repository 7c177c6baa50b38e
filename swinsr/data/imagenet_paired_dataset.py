"""``ImageNetPairedDataset``: the dataset of HAT's / DRCT's ``*_ImageNet_from_scratch`` pre-training files.

Only GT images are read; the LQ is made from each whole GT image on the fly, as the reference
does: the image is converted to float ``[0, 1]``, cropped top-left to a multiple of ``scale``,
enlarged bilinearly (OpenCV) to at least ``gt_size`` on each side when it is smaller, and
downscaled by ``1/scale`` with MATLAB bicubic in float (no ``uint8`` rounding of the LQ, unlike
:class:`~swinsr.data.sr_datasets.BicubicSRDataset`). Training then takes aligned random patches
and applies flips/rotations. ``dataroot_lq`` is accepted and ignored: the official files set it
to the GT folder.
"""

from __future__ import annotations

from typing import Any, Mapping

from .._lazy import cv2
import numpy as np
import torch

from ..errors import OptionError
from ..imresize import imresize, mod_crop
from ..train.schema import REQUIRED, Field
from .base import AUGMENT_FIELDS, OptionDataset
from .registry import DATASET_REGISTRY
from .single_image_dataset import _channel_stats
from .sr_datasets import gt_paths
from .store import ImageStore
from .transforms import augment, paired_random_crop, sample_rng


def _float_tensor(img: np.ndarray) -> torch.Tensor:
    """Float ``(H, W, C)`` -> float32 ``(C, H, W)``, values kept as they are (bicubic may overshoot [0, 1])."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32))


def imagenet_pair(img: np.ndarray, scale: int, gt_size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The reference's whole-image ``(gt, lq)`` pair from a ``uint8`` ``(H, W, C)`` image, both float32 in ~[0, 1].

    ``gt``: the mod-``scale`` crop, bilinearly enlarged to at least ``gt_size`` per side;
    ``lq``: its MATLAB-bicubic ``1/scale`` downscale, in float.
    """
    gt = mod_crop(img.astype(np.float32) / 255.0, scale)
    if gt_size:
        h, w = gt.shape[:2]
        if h < gt_size or w < gt_size:  # small images are stretched up, not skipped
            gt = cv2.resize(gt, (max(w, gt_size), max(h, gt_size)), interpolation=cv2.INTER_LINEAR)
            if gt.ndim == 2:  # OpenCV drops a single channel axis
                gt = gt[..., None]
    # the torch path of imresize: same MATLAB semantics, much faster than numpy on whole images
    lq = imresize(torch.from_numpy(np.ascontiguousarray(gt.transpose(2, 0, 1))), 1.0 / scale)
    return np.ascontiguousarray(gt), lq.numpy().transpose(1, 2, 0)


@DATASET_REGISTRY.register()
class ImageNetPairedDataset(OptionDataset):
    """GT images only (a folder, or those listed in ``meta_info_file``: first token of each line).

    Each sample is built by :func:`imagenet_pair` from the whole image, then (training) an
    aligned ``gt_size`` / ``gt_size // scale`` random patch is cut and flipped/rotated. With
    ``mean`` / ``std`` both LQ and GT are normalised per channel, as in the reference.
    Validation returns the whole pair.
    """

    FIELDS = {
        **AUGMENT_FIELDS,
        "dataroot_gt": Field((str,), path="dir"),
        "dataroot_lq": Field((str,), None, nullable=True, help="ignored: the LQ is made from the GT"),
        "mean": Field((list, float), None, nullable=True, help="per-channel mean subtracted from LQ and GT"),
        "std": Field((list, float), None, nullable=True, help="per-channel std LQ and GT are divided by"),
    }

    def __init__(self, opt: Mapping[str, Any]):
        super().__init__(opt)
        # built from a plain dict (not a parsed option file): fill in the documented defaults
        for key, spec in self.option_fields().items():
            if spec.default is not REQUIRED:
                self.opt.setdefault(key, spec.default)
        where = f"datasets.{self.opt.get('name') or self.phase}"
        self.scale = int(self.opt.get("scale", 1))
        gt_size = self.opt.get("gt_size")
        if self.is_train:
            if not gt_size:
                raise OptionError(f"{where}.gt_size: ImageNetPairedDataset needs a training patch size")
            if gt_size % self.scale:
                raise OptionError(f"{where}.gt_size: {gt_size} is not a multiple of scale {self.scale}")
        backend = (self.opt.get("io_backend") or {}).get("type", "disk")
        if backend != "disk":
            raise OptionError(f"{where}.io_backend.type: {backend!r} is not supported by ImageNetPairedDataset; use 'disk' (a folder of image files)")
        # ImageNet is far too big to keep decoded; 'auto' caches only small folders
        self.store = ImageStore(gt_paths(self.opt), self.opt["color"], self.opt["cache"] if self.is_train else False, self.opt["cache_gb"])
        channels = 1 if self.opt["color"] == "gray" else 3
        self.mean = _channel_stats(self.opt.get("mean"), f"{where}.mean", channels)
        self.std = _channel_stats(self.opt.get("std"), f"{where}.std", channels)

    def __len__(self) -> int:
        return len(self.store)

    def __getitem__(self, key: Any) -> dict[str, Any]:
        index, rng = sample_rng(key)
        path = str(self.store.paths[index])
        gt, lq = imagenet_pair(self.store[index], self.scale, self.opt.get("gt_size"))
        if self.is_train:
            gt, lq = paired_random_crop(gt, lq, self.opt["gt_size"], self.scale, rng, path=path)
            gt, lq = augment([gt, lq], rng, hflip=self.opt["use_hflip"], rot=self.opt["use_rot"])
        else:
            gt = gt[: lq.shape[0] * self.scale, : lq.shape[1] * self.scale]
        lq_t, gt_t = _float_tensor(lq), _float_tensor(gt)
        if self.mean is not None:
            lq_t, gt_t = lq_t - self.mean, gt_t - self.mean
        if self.std is not None:
            lq_t, gt_t = lq_t / self.std, gt_t / self.std
        return {"lq": lq_t, "gt": gt_t, "lq_path": path, "gt_path": path}


__all__ = ["ImageNetPairedDataset", "imagenet_pair"]
