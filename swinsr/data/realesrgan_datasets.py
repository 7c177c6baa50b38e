"""Real-ESRGAN datasets: HR images + per-sample blur kernels, and LR/GT pairs for finetuning.

* :class:`RealESRGANDataset` returns ``{'gt', 'kernel1', 'kernel2', 'sinc_kernel', 'gt_path'}``;
  the LR is synthesised later, on whole batches, by
  :class:`swinsr.degradations.RealESRGANDegradation` inside the training model (as Real-ESRGAN
  does on the GPU).
* :class:`RealESRGANPairedDataset` reads pre-made LR/GT pairs (folders matched by name, or a
  ``meta_info`` file of ``gt, lq`` lines) and returns the keys of :class:`PairedImageDataset`.

Option keys are those of Real-ESRGAN's files (``meta_info``, ``blur_kernel_size``,
``kernel_list``, ...); missing kernel keys take the values of ``train_realesrgan_x4plus.yml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from .._lazy import cv2
import numpy as np
import torch

from ..degradations.pipeline import KERNEL_DEFAULTS, RealESRGANKernels
from ..errors import OptionError
from ..imresize import mod_crop
from ..train.schema import Field
from .base import AUGMENT_FIELDS, OptionDataset
from .io import read_meta_info, to_tensor
from .registry import DATASET_REGISTRY
from .sr_datasets import PairedImageDataset, gt_paths
from .store import ImageStore
from .transforms import augment, sample_rng

#: Patch size when ``gt_size`` is not set: Real-ESRGAN's hard-coded crop/pad size.
DEFAULT_CROP_PAD_SIZE = 400


def _kernel_field(value: Any) -> Field:
    kind = {bool: bool, int: int, float: float, list: list}[type(value)]
    return Field((kind,), value)


KERNEL_FIELDS: dict[str, Field] = {key: _kernel_field(value) for key, value in KERNEL_DEFAULTS.items()}
"""The dataset-section kernel keys (types and official defaults)."""


def crop_or_pad(img: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``size x size`` patch; sides shorter than ``size`` are first reflect-padded at the
    bottom/right (OpenCV ``BORDER_REFLECT_101``), as Real-ESRGAN pads small images."""
    h, w = img.shape[:2]
    if h < size or w < size:
        img = cv2.copyMakeBorder(img, 0, max(0, size - h), 0, max(0, size - w), cv2.BORDER_REFLECT_101)
        h, w = img.shape[:2]
    top = int(rng.integers(0, h - size + 1))
    left = int(rng.integers(0, w - size + 1))
    return img[top : top + size, left : left + size]


@DATASET_REGISTRY.register()
class RealESRGANDataset(OptionDataset):
    """HR images for Real-ESRGAN training, each with its three degradation kernels.

    Images come from ``dataroot_gt`` (a folder, searched recursively, or a list of folders) or
    from the paths listed in ``meta_info`` / ``meta_info_file`` (first token of each line,
    relative to ``dataroot_gt``). Training cuts one random ``gt_size`` patch per sample (images
    smaller than that are reflect-padded first), then flips/rotates it (``use_hflip``,
    ``use_rot``). Real-ESRGAN crops a fixed 400 px here and the model cuts its ``gt_size`` patch
    after degrading; cutting ``gt_size`` directly gives the same patch distribution at a fraction
    of the cost (``gt_size`` defaults to 400 when unset). Validation returns whole images,
    cropped to a multiple of ``scale``, with kernels seeded by the image index.

    Kernels are drawn by :class:`~swinsr.degradations.RealESRGANKernels` from the sample's own
    generator, so a sample is the same on every run and in every worker.
    """

    FIELDS = {
        **AUGMENT_FIELDS,
        **KERNEL_FIELDS,
        "dataroot_gt": Field((str, list)),
        "meta_info": Field((str,), None, nullable=True, path="file", help="Real-ESRGAN's name for meta_info_file"),
    }

    def __init__(self, opt: Mapping[str, Any]):
        super().__init__(opt)
        where = f"datasets.{self.opt.get('name') or self.phase}"
        if self.opt.get("color", "rgb") != "rgb":
            raise OptionError(f"{where}.color: the Real-ESRGAN degradations need RGB images; remove color: {self.opt['color']}")
        if self.opt.get("meta_info") and self.opt.get("meta_info_file"):
            raise OptionError(f"{where}.meta_info: give meta_info or meta_info_file, not both")
        self.scale = int(self.opt.get("scale", 1))
        self.gt_size = int(self.opt.get("gt_size") or DEFAULT_CROP_PAD_SIZE)
        if self.is_train and self.gt_size % self.scale:
            raise OptionError(f"{where}.gt_size: {self.gt_size} is not a multiple of scale {self.scale}")
        self.kernels = RealESRGANKernels(self.opt, where)
        if self.opt.get("meta_info"):
            roots = self.opt["dataroot_gt"]
            if isinstance(roots, list):
                raise OptionError(f"{where}.dataroot_gt: meta_info needs a single folder, got {roots}")
            paths = read_meta_info(self.opt["meta_info"], roots)
        else:
            paths = gt_paths(self.opt)
        cache = self.opt.get("cache", "auto") if self.is_train else False
        self.store = ImageStore(paths, "rgb", cache, float(self.opt.get("cache_gb", 4.0)))

    def __len__(self) -> int:
        return len(self.store)

    def __getitem__(self, key: Any) -> dict[str, Any]:
        index, rng = sample_rng(key)
        img = self.store[index]
        if self.is_train:
            (img,) = augment([crop_or_pad(img, self.gt_size, rng)], rng, hflip=self.opt["use_hflip"], rot=self.opt["use_rot"])
        else:
            img = mod_crop(img, self.scale)
        kernel1, kernel2, sinc_kernel = self.kernels.sample(rng)
        return {
            "gt": to_tensor(img),
            "kernel1": kernel1,
            "kernel2": kernel2,
            "sinc_kernel": sinc_kernel,
            "gt_path": str(self.store.paths[index]),
        }


def read_pair_meta_info(meta_file: str | Path, gt_root: str | Path, lq_root: str | Path) -> list[tuple[Path, Path]]:
    """``(gt, lq)`` paths from a Real-ESRGAN pair ``meta_info`` file: ``gt_rel, lq_rel`` per line."""
    pairs = []
    for n, line in enumerate(Path(meta_file).read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 2 or not all(parts):
            raise OptionError(f"{meta_file}:{n}: expected 'gt_path, lq_path', got {line.strip()!r}")
        pairs.append((Path(gt_root) / parts[0], Path(lq_root) / parts[1]))
    if not pairs:
        raise OptionError(f"{meta_file}: no image pairs listed")
    return pairs


@DATASET_REGISTRY.register()
class RealESRGANPairedDataset(PairedImageDataset):
    """LR/GT pairs for Real-ESRGAN's paired finetuning (``finetune_realesrgan_x4plus_pairdata.yml``).

    Like :class:`PairedImageDataset` (same returned keys, aligned ``gt_size`` crops and flips in
    training, whole images otherwise), plus Real-ESRGAN's ``meta_info`` file of
    ``gt_relative_path, lq_relative_path`` lines and its optional ``mean``/``std`` normalisation.
    """

    FIELDS = {
        **PairedImageDataset.FIELDS,
        "meta_info": Field((str,), None, nullable=True, path="file", help="lines 'gt_path, lq_path'"),
        "mean": Field((list,), None, nullable=True),
        "std": Field((list,), None, nullable=True),
    }

    def __init__(self, opt: Mapping[str, Any]):
        if not opt.get("meta_info"):
            super().__init__(opt)
        else:
            OptionDataset.__init__(self, opt)
            self.scale = int(self.opt.get("scale", 1))
            pairs = read_pair_meta_info(self.opt["meta_info"], self.opt["dataroot_gt"], self.opt["dataroot_lq"])
            color, cache, gb = self.opt.get("color", "rgb"), self.opt.get("cache", "auto"), float(self.opt.get("cache_gb", 4.0))
            cache = cache if self.is_train else False
            self.gt = ImageStore([g for g, _ in pairs], color, cache, gb)
            self.lq = ImageStore([q for _, q in pairs], color, cache, gb)
        where = f"datasets.{self.opt.get('name') or self.phase}"
        self.norm = [None if self.opt.get(k) is None else self._stat(k, where) for k in ("mean", "std")]

    def _stat(self, key: str, where: str) -> torch.Tensor:
        values = self.opt[key]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) or len(values) not in (1, 3):
            raise OptionError(f"{where}.{key}: expected 1 or 3 numbers, got {values!r}")
        if key == "std" and any(v <= 0 for v in values):
            raise OptionError(f"{where}.std: values must be positive, got {values!r}")
        return torch.tensor(values, dtype=torch.float32).view(-1, 1, 1)

    def __getitem__(self, key: Any) -> dict[str, Any]:
        out = super().__getitem__(key)
        mean, std = self.norm
        if mean is not None or std is not None:
            m = 0.0 if mean is None else mean
            s = 1.0 if std is None else std
            for k in ("lq", "gt"):
                out[k] = (out[k] - m) / s
        return out


__all__ = ["KERNEL_FIELDS", "RealESRGANDataset", "RealESRGANPairedDataset", "crop_or_pad", "read_pair_meta_info"]
