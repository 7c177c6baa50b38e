"""``ImageFolderDataset``: ``root/<class>/<image>`` for training the Swin classifiers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

from .._lazy import cv2
import numpy as np
import torch

from ..errors import OptionError
from ..train.schema import Field
from .base import OptionDataset
from .io import IMAGE_SUFFIXES, to_tensor
from .registry import DATASET_REGISTRY
from .store import ImageStore
from .transforms import sample_rng

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def scan_classes(root: str | Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """Sorted class folder names and ``(path, class_index)`` samples."""
    base = Path(root)
    classes = sorted(d.name for d in base.iterdir() if d.is_dir())
    if not classes:
        raise OptionError(f"dataroot: {base} has no class folders (expected root/<class>/<image>)")
    samples = []
    for idx, name in enumerate(classes):
        for p in sorted((base / name).rglob("*")):
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
                samples.append((p, idx))
    if not samples:
        raise OptionError(f"dataroot: no images under {base}")
    return classes, samples


def random_resized_crop(img: np.ndarray, size: int, rng: np.random.Generator, scale: tuple[float, float], ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> np.ndarray:
    """Inception-style crop: random area fraction in ``scale`` and aspect ratio, resized to ``size``."""
    h, w = img.shape[:2]
    area = h * w
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        cw, ch = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            crop = img[top : top + ch, left : left + cw]
            break
    else:  # fall back to a central crop
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        crop = img[top : top + s, left : left + s]
    out = cv2.resize(crop, (size, size), interpolation=cv2.INTER_CUBIC)
    return out[:, :, None] if out.ndim == 2 else out


def center_crop(img: np.ndarray, size: int, crop_pct: float) -> np.ndarray:
    """Resize the short side to ``size / crop_pct`` and cut the central ``size x size``."""
    h, w = img.shape[:2]
    short = int(round(size / crop_pct))
    nh, nw = (short, max(short, round(w * short / h))) if h <= w else (max(short, round(h * short / w)), short)
    out = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_CUBIC)
    top, left = (nh - size) // 2, (nw - size) // 2
    out = out[top : top + size, left : left + size]
    return out[:, :, None] if out.ndim == 2 else out


@DATASET_REGISTRY.register()
class ImageFolderDataset(OptionDataset):
    """Images in ``dataroot/<class>/`` with labels in sorted class order (torchvision's convention).

    Training: random resized crop to ``img_size`` (area ``crop_scale``) and horizontal flips;
    validation: short side to ``img_size / crop_pct``, central crop. ImageNet normalisation.
    """

    FIELDS = {
        "dataroot": Field((str,), path="dir"),
        "img_size": Field((int,), 224),
        "crop_scale": Field((list,), [0.08, 1.0]),
        "crop_pct": Field((float,), 0.875),
        "use_hflip": Field((bool,), True),
        "mean": Field((list,), list(IMAGENET_MEAN)),
        "std": Field((list,), list(IMAGENET_STD)),
    }

    def __init__(self, opt: Mapping[str, Any]):
        super().__init__(opt)
        self.classes, samples = scan_classes(self.opt["dataroot"])
        self.labels = [label for _, label in samples]
        self.store = ImageStore([p for p, _ in samples], self.opt["color"], self.opt["cache"], self.opt["cache_gb"])
        c = 1 if self.opt["color"] == "gray" else 3
        self.mean = torch.tensor(self.opt["mean"][:c], dtype=torch.float32).view(c, 1, 1)
        self.std = torch.tensor(self.opt["std"][:c], dtype=torch.float32).view(c, 1, 1)

    def __len__(self) -> int:
        return len(self.store)

    def __getitem__(self, key: Any) -> dict[str, Any]:
        index, rng = sample_rng(key)
        img = self.store[index]
        size = self.opt["img_size"]
        if self.is_train:
            lo, hi = self.opt["crop_scale"]
            img = random_resized_crop(img, size, rng, (float(lo), float(hi)))
            if self.opt["use_hflip"] and rng.random() < 0.5:
                img = np.ascontiguousarray(img[:, ::-1])
        else:
            img = center_crop(img, size, self.opt["crop_pct"])
        x = (to_tensor(img) - self.mean) / self.std
        return {"img": x, "label": self.labels[index], "path": str(self.store.paths[index])}
