"""VGG19 feature extractor (no torchvision) that reads torchvision's ``vgg19`` state-dict layout.

Weights come only from a local file (e.g. torchvision's ``vgg19-dcbb9e9d.pth``); swinsr never
downloads them. Layers are named as in BasicSR (``conv1_1``, ``relu1_1``, ``pool1`` ...), so
``layer_weights`` from BasicSR option files work unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import torch
import torch.nn as nn

from ..errors import OptionError

# torchvision's configuration "E" (VGG19): channels per conv, "M" = max-pool
VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg19_layer_names() -> list[str]:
    """BasicSR names of ``features`` modules 0..36, in order."""
    names, block, idx = [], 1, 1
    for v in VGG19_CFG:
        if v == "M":
            names.append(f"pool{block}")
            block, idx = block + 1, 1
        else:
            names += [f"conv{block}_{idx}", f"relu{block}_{idx}"]
            idx += 1
    return names


LAYER_NAMES = vgg19_layer_names()


class VGG19Features(nn.Module):
    """``features`` of torchvision's VGG19, truncated after the last requested layer; frozen.

    ``forward`` returns ``{layer_name: activation}`` for ``layers``. With ``use_input_norm`` the
    input (RGB in ``[0, 1]``, or ``[-1, 1]`` with ``range_norm``) is normalised with ImageNet
    statistics first, as the pretrained weights expect.
    """

    def __init__(self, layers: Iterable[str], weights: str | os.PathLike, use_input_norm: bool = True, range_norm: bool = False):
        super().__init__()
        self.layers = list(layers)
        unknown = [n for n in self.layers if n not in LAYER_NAMES]
        if unknown:
            raise OptionError(f"layer_weights: unknown VGG19 layer(s) {', '.join(unknown)}; allowed: {', '.join(LAYER_NAMES)}")
        last = max(LAYER_NAMES.index(n) for n in self.layers)
        modules: list[nn.Module] = []
        in_ch = 3
        for v in VGG19_CFG:
            if v == "M":
                modules.append(nn.MaxPool2d(2, 2))
            else:
                modules += [nn.Conv2d(in_ch, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                in_ch = int(v)
        self.features = nn.Sequential(*modules[: last + 1])
        self.load_torchvision_weights(weights)
        self.use_input_norm = use_input_norm
        self.range_norm = range_norm
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def load_torchvision_weights(self, path: str | os.PathLike) -> None:
        """Load ``features.*`` tensors from a torchvision ``vgg19`` state dict (``classifier.*`` is ignored)."""
        p = Path(path)
        if not p.is_file():
            raise OptionError(
                f"vgg_weights: {p} not found; the perceptual loss needs torchvision's VGG19 weights as a local file "
                "(vgg19-dcbb9e9d.pth, state-dict layout features.N.weight); swinsr never downloads them"
            )
        from ..checkpoint import read_checkpoint

        raw, _ = read_checkpoint(p)
        if isinstance(raw, dict) and "state_dict" in raw and isinstance(raw["state_dict"], dict):
            raw = raw["state_dict"]
        sd = {k[len("features."):]: v for k, v in raw.items() if isinstance(k, str) and k.startswith("features.")}
        own = self.features.state_dict()
        missing = [k for k in own if k not in sd]
        wrong = [k for k in own if k in sd and sd[k].shape != own[k].shape]
        if missing or wrong:
            raise OptionError(f"vgg_weights: {p} is not a torchvision vgg19 state dict (missing {missing[:3]}, wrong shapes {wrong[:3]})")
        self.features.load_state_dict({k: sd[k] for k in own}, strict=True)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.range_norm:
            x = (x + 1) / 2
        if self.use_input_norm:
            x = (x - self.mean) / self.std
        out = {}
        for name, module in zip(LAYER_NAMES, self.features):
            x = module(x)
            if name in self.layers:
                out[name] = x
        return out
