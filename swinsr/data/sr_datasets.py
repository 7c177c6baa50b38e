"""Super-resolution datasets: GT + LQ folders, or GT only with the LQ made on the fly."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from ..errors import OptionError
from ..imresize import bicubic_downscale, imresize
from ..train.schema import Field
from .base import AUGMENT_FIELDS, OptionDataset
from .io import list_images, read_meta_info, to_tensor
from .registry import DATASET_REGISTRY
from .store import ImageStore
from .transforms import augment, paired_random_crop, random_crop, sample_rng

log = logging.getLogger("swinsr.train")

FOLDERS = (str, list)


def gt_paths(opt: Mapping[str, Any], key: str = "dataroot_gt") -> list[Path]:
    """Images of ``opt[key]`` (a folder or a list of folders), or those listed in ``meta_info_file``."""
    roots = opt[key] if isinstance(opt[key], list) else [opt[key]]
    if opt.get("meta_info_file"):
        if len(roots) != 1:
            raise OptionError(f"{key}: meta_info_file needs a single folder, got {roots}")
        return read_meta_info(opt["meta_info_file"], roots[0])
    paths: list[Path] = []
    for root in roots:
        found = list_images(root)
        if not found:
            raise OptionError(f"{key}: no images found in {root}")
        paths.extend(found)
    return paths


def bicubic_lr_patch(gt: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB-bicubic ``1/scale`` downscale of a ``uint8`` ``(H, W, C)`` patch, rounded to ``uint8``.

    Goes through the torch path of :func:`~swinsr.imresize.imresize` (same MATLAB semantics,
    including rounding between the two passes), which is about 5x faster than the numpy path
    on patch-sized inputs.
    """
    chw = torch.from_numpy(np.ascontiguousarray(gt.transpose(2, 0, 1)))
    return imresize(chw, 1.0 / scale).numpy().transpose(1, 2, 0)


def drop_small(store: ImageStore, size: int, what: str) -> None:
    """Remove images that cannot hold a ``size`` patch, saying how many went."""
    keep = [i for i, (h, w) in enumerate(store.sizes) if h >= size and w >= size]
    if not keep:
        raise OptionError(f"{what}: no image is at least {size}x{size} pixels (gt_size); lower gt_size")
    if len(keep) < len(store):
        log.warning("%s: %d of %d images are smaller than the %dx%d patch and are skipped",
                    what, len(store) - len(keep), len(store), size, size)
        store.keep(keep)


@DATASET_REGISTRY.register()
class PairedImageDataset(OptionDataset):
    """GT and LQ images from two folders, matched by name: LQ ``filename_tmpl.format(gt_stem) + ext``.

    Training: aligned random patches (``gt_size`` on the GT side), flips and rotations.
    Validation: whole images, the GT cropped to ``scale`` times the LQ size.
    """

    FIELDS = {
        **AUGMENT_FIELDS,
        "dataroot_gt": Field((str,), path="dir"),
        "dataroot_lq": Field((str,), path="dir"),
        "filename_tmpl": Field((str,), "{}"),
    }

    def __init__(self, opt: Mapping[str, Any]):
        super().__init__(opt)
        self.scale = int(self.opt.get("scale", 1))
        gts = gt_paths(self.opt)
        lqs = []
        for gt in gts:
            name = self.opt["filename_tmpl"].format(gt.stem) + gt.suffix
            lq = Path(self.opt["dataroot_lq"]) / gt.relative_to(self.opt["dataroot_gt"]).parent / name
            if not lq.is_file():
                found = sorted(lq.parent.glob(self.opt["filename_tmpl"].format(gt.stem) + ".*"))
                if not found:
                    raise OptionError(f"dataroot_lq: no LQ image {lq.name} for {gt} (filename_tmpl {self.opt['filename_tmpl']!r})")
                lq = found[0]
            lqs.append(lq)
        color, cache, gb = self.opt["color"], self.opt["cache"], self.opt["cache_gb"]
        self.gt = ImageStore(gts, color, cache if self.is_train else False, gb)
        self.lq = ImageStore(lqs, color, cache if self.is_train else False, gb)

    def __len__(self) -> int:
        return len(self.gt)

    def __getitem__(self, key: Any) -> dict[str, Any]:
        index, rng = sample_rng(key)
        gt, lq = self.gt[index], self.lq[index]
        s = self.scale
        if self.is_train and self.opt.get("gt_size"):
            gt, lq = paired_random_crop(gt, lq, self.opt["gt_size"], s, rng, path=self.gt.paths[index])
            gt, lq = augment([gt, lq], rng, hflip=self.opt["use_hflip"], rot=self.opt["use_rot"])
        else:
            gt = gt[: lq.shape[0] * s, : lq.shape[1] * s]
        return {"lq": to_tensor(lq), "gt": to_tensor(gt), "lq_path": str(self.lq.paths[index]), "gt_path": str(self.gt.paths[index])}


@DATASET_REGISTRY.register()
class BicubicSRDataset(OptionDataset):
    """GT images only; the LQ is the MATLAB-bicubic ``1/scale`` downscale made on the fly.

    Training crops a ``gt_size`` GT patch (from images decoded once and kept in memory),
    flips/rotates it, and downscales only the patch, rounding to ``uint8`` like the LR PNGs of the
    standard protocol. ``dataroot_gt`` may be one folder (searched recursively) or a list.
    Images smaller than the patch are skipped. Validation uses the protocol's LR: the bicubic
    downscale of the top-left mod-``scale`` crop of each whole image.
    """

    FIELDS = {**AUGMENT_FIELDS, "dataroot_gt": Field(FOLDERS)}

    def __init__(self, opt: Mapping[str, Any]):
        super().__init__(opt)
        self.scale = int(self.opt.get("scale", 1))
        self.store = ImageStore(gt_paths(self.opt), self.opt["color"], self.opt["cache"] if self.is_train else False, self.opt["cache_gb"])
        gt_size = self.opt.get("gt_size")
        if self.is_train:
            if not gt_size:
                raise OptionError("gt_size: BicubicSRDataset needs a training patch size")
            if gt_size % self.scale:
                raise OptionError(f"gt_size: {gt_size} is not a multiple of scale {self.scale}")
            drop_small(self.store, gt_size, f"datasets.{self.opt.get('name') or 'train'}")

    def __len__(self) -> int:
        return len(self.store)

    def __getitem__(self, key: Any) -> dict[str, Any]:
        index, rng = sample_rng(key)
        img = self.store[index]
        path = str(self.store.paths[index])
        if self.is_train:
            (gt,) = augment([random_crop(img, self.opt["gt_size"], rng, path=path)], rng, hflip=self.opt["use_hflip"], rot=self.opt["use_rot"])
            lq = bicubic_lr_patch(gt, self.scale)
        else:
            lq = bicubic_downscale(img, self.scale)
            gt = img[: lq.shape[0] * self.scale, : lq.shape[1] * self.scale]
        return {"lq": to_tensor(lq), "gt": to_tensor(gt), "lq_path": path, "gt_path": path}


__all__ = ["BicubicSRDataset", "PairedImageDataset", "bicubic_lr_patch", "drop_small", "gt_paths"]
