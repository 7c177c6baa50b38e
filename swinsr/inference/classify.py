"""Image classification with Swin V1/V2 checkpoints, using the reference evaluation preprocessing.

The reference (Microsoft Swin Transformer) evaluates with: resize the shorter side to
``int(img_size / 0.875)`` (bicubic), center-crop ``img_size``, scale to [0, 1], normalise with the
ImageNet mean/std. Class names come from the ImageNet-1k list shipped in
``swinsr/resources/imagenet_classes.json``; models with another number of classes get indices.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

from ..errors import OptionError
from .precision import autocast, resolve_device, resolve_precision

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: the reference resizes to img_size / CROP_RATIO before center-cropping img_size (256 -> 224)
CROP_RATIO = 0.875


@lru_cache(maxsize=1)
def imagenet_class_names() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names in the standard (sorted wnid) index order."""
    text = resources.files("swinsr").joinpath("resources/imagenet_classes.json").read_text(encoding="utf-8")
    return tuple(json.loads(text)["names"])


def to_rgb8(array: np.ndarray) -> np.ndarray:
    """Any image array from :func:`swinsr.imageio.read_image` -> uint8 RGB (alpha dropped, as the reference's ``convert('RGB')``)."""
    arr = array if array.dtype == np.uint8 else np.round(array.astype(np.float32) / 257.0).astype(np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[2] in (2, 4):
        arr = arr[:, :, :-1]
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr)


def preprocess(array: np.ndarray, img_size: int) -> torch.Tensor:
    """Reference evaluation transform -> ``(3, img_size, img_size)`` normalised float tensor."""
    img = Image.fromarray(to_rgb8(array))
    w, h = img.size
    short = int(img_size / CROP_RATIO)
    # like torchvision Resize(int): the shorter side becomes `short`, aspect ratio kept
    if w <= h:
        size = (short, int(short * h / w))
    else:
        size = (int(short * w / h), short)
    img = img.resize(size, Image.BICUBIC)
    left = int(round((size[0] - img_size) / 2.0))
    top = int(round((size[1] - img_size) / 2.0))
    img = img.crop((left, top, left + img_size, top + img_size))
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (x - mean) / std


@dataclass
class Prediction:
    """One ranked class: index, name (``"class 3"`` when the model's classes are not ImageNet-1k), probability."""

    index: int
    name: str
    probability: float


class Classifier:
    """Top-k ImageNet predictions from a Swin V1/V2 classifier.

    ``class_names`` is the ImageNet-1k list when the model has 1000 classes, else None (names
    fall back to ``"class <index>"``; :attr:`names_note` says why).
    """

    def __init__(self, model: nn.Module, *, device: str | torch.device | None = None, precision: str = "auto") -> None:
        if not hasattr(model, "num_classes") or hasattr(model, "upscale"):
            raise OptionError(f"{type(model).__name__} is not a Swin classifier (for SR models use `swinsr upscale`)")
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.model = model.eval().to(self.device)
        size = getattr(model, "img_size", 224)
        self.img_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.num_classes = int(model.num_classes)
        self.class_names = imagenet_class_names() if self.num_classes == 1000 else None
        self.names_note = (
            None if self.class_names is not None
            else f"the model has {self.num_classes} classes, not the 1000 ImageNet classes: showing class indices"
        )

    def name_of(self, index: int) -> str:
        return self.class_names[index] if self.class_names is not None else f"class {index}"

    def predict(self, images: list[np.ndarray], topk: int = 5) -> list[list[Prediction]]:
        """Top-``topk`` predictions for each image array (any layout/bit depth)."""
        if topk < 1:
            raise OptionError(f"--topk {topk}: must be >= 1")
        batch = torch.stack([preprocess(a, self.img_size) for a in images]).to(self.device)
        with torch.no_grad(), autocast(self.precision, self.device):
            logits = self.model(batch)
        probs = logits.float().softmax(dim=-1).cpu()
        k = min(topk, self.num_classes)
        values, indices = probs.topk(k, dim=-1)
        return [
            [Prediction(int(i), self.name_of(int(i)), float(p)) for p, i in zip(vs, ids)]
            for vs, ids in zip(values, indices)
        ]
