"""ClassificationModel: a tiny Swin classifier learns two easy classes from an ImageFolder."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

import swinsr
from swinsr.train import train_pipeline


def colour_classes(root, n=6, size=32):
    rng = np.random.default_rng(0)
    for label, colour in (("blue", (200, 40, 40)), ("red", (40, 40, 200))):  # BGR
        d = root / label
        d.mkdir(parents=True)
        for i in range(n):
            img = np.clip(np.array(colour)[None, None] + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
            cv2.imwrite(str(d / f"{i}.png"), img)
    return root


@pytest.mark.slow
def test_classifier_trains_with_adamw_cosine_and_label_smoothing(tmp_path):
    root = colour_classes(tmp_path / "cls")
    opt = {
        "name": "cls", "model_type": "ClassificationModel", "num_gpu": 0, "manual_seed": 1, "num_threads": 1,
        "datasets": {
            "train": {"type": "ImageFolderDataset", "dataroot": str(root), "img_size": 32, "crop_scale": [0.5, 1.0],
                      "batch_size_per_gpu": 4, "num_worker_per_gpu": 0},
            "val": {"type": "ImageFolderDataset", "dataroot": str(root), "img_size": 32},
        },
        "network_g": {"type": "SwinTransformer", "img_size": 32, "patch_size": 4, "num_classes": 2, "embed_dim": 16,
                      "depths": [1, 1], "num_heads": [1, 2], "window_size": 4, "drop_path_rate": 0.0},
        "train": {
            "ema_decay": 0.0,
            "optim_g": {"type": "AdamW", "lr": 2e-3, "weight_decay": 0.05},
            "scheduler": {"type": "CosineAnnealingRestartLR", "periods": [30], "restart_weights": [1], "eta_min": 1e-5},
            "warmup_iter": 5,
            "total_iter": 30,
            "loss_opt": {"type": "CrossEntropyLoss", "label_smoothing": 0.1},
        },
        "val": {"val_freq": 30, "metrics": {"top1": {"type": "accuracy", "topk": 1}}},
        "logger": {"print_freq": 10, "save_checkpoint_freq": 30},
    }
    result = train_pipeline(opt, root=tmp_path)
    losses = [v["l_ce"] for _, v in result.losses]
    assert losses[-1] < losses[0]
    assert result.metrics["val"]["top1"] == 100.0
    model = swinsr.load_model(tmp_path / "experiments" / "cls" / "models" / "net_g_latest.pth")
    assert type(model).__name__ == "SwinTransformer"
    # norms, biases and relative-position tables get no weight decay (the Swin recipe)
    state = torch.load(tmp_path / "experiments/cls/training_states/30.state", weights_only=True)
    groups = state["optimizers"][0]["param_groups"]
    assert groups[0]["weight_decay"] == 0.05 and groups[1]["weight_decay"] == 0.0
