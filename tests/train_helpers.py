"""Small synthetic datasets and option dicts for the training tests (no shared data needed)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import cv2
import numpy as np


def make_images(folder: Path, n: int = 4, size: int = 48, seed: int = 0, gray: bool = False) -> Path:
    """``n`` smooth random RGB PNGs (structure a small network can learn) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        small = rng.integers(0, 256, size=(size // 8, size // 8, 3)).astype(np.uint8)
        img = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
        img = cv2.GaussianBlur(img, (3, 3), 0.8)
        if gray:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        cv2.imwrite(str(folder / f"img{i:02d}.png"), img)
    return folder


TINY_NET = {
    "type": "SwinIR", "upscale": 2, "in_chans": 3, "img_size": 8, "window_size": 4, "img_range": 1.0,
    "depths": [2], "embed_dim": 12, "num_heads": [2], "mlp_ratio": 2, "upsampler": "pixelshuffledirect",
    "resi_connection": "1conv",
}


def tiny_options(data: Path, *, name: str = "tiny", total_iter: int = 6, **overrides: Any) -> dict[str, Any]:
    """An SR option dict training :data:`TINY_NET` x2 on ``data`` (HR only, LR on the fly)."""
    opt: dict[str, Any] = {
        "name": name,
        "model_type": "SwinIRModel",
        "scale": 2,
        "num_gpu": 0,
        "manual_seed": 7,
        "datasets": {
            "train": {
                "name": "synthetic", "type": "BicubicSRDataset", "dataroot_gt": str(data), "gt_size": 16,
                "use_hflip": True, "use_rot": True, "batch_size_per_gpu": 2, "num_worker_per_gpu": 0,
            },
        },
        "network_g": dict(TINY_NET),
        "train": {
            "ema_decay": 0.9,
            "optim_g": {"type": "Adam", "lr": 2e-3, "weight_decay": 0, "betas": [0.9, 0.99]},
            "scheduler": {"type": "MultiStepLR", "milestones": [4], "gamma": 0.5},
            "total_iter": total_iter,
            "warmup_iter": 2,
            "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0, "reduction": "mean"},
        },
        "logger": {"print_freq": 1, "save_checkpoint_freq": 3},
    }
    for key, value in overrides.items():
        opt[key] = value
    return copy.deepcopy(opt)
