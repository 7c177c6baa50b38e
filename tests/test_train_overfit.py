"""A tiny SR config overfits a few images on CPU: the loss falls and PSNR beats bicubic."""

from __future__ import annotations

import cv2
import numpy as np

from swinsr.imresize import imresize
from swinsr.metrics import calculate_psnr
from swinsr.train import train_pipeline

from train_helpers import tiny_options


def blocky_images(folder, n=2, size=32, block=4, seed=0):
    """Piecewise-constant images with sharp edges, where bicubic upscaling is clearly beatable."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        small = rng.integers(0, 256, size=(size // block, size // block, 3)).astype(np.uint8)
        cv2.imwrite(str(folder / f"b{i}.png"), cv2.resize(small, (size, size), interpolation=cv2.INTER_NEAREST))
    return folder


def test_tiny_model_overfits_and_beats_bicubic(tmp_path):
    data = blocky_images(tmp_path / "hr")
    iters = 100
    opt = tiny_options(data, name="overfit", total_iter=iters)
    opt["num_threads"] = 1  # on a busy 2-core machine one thread is several times faster
    opt["train"].update(ema_decay=0.0, scheduler=None, warmup_iter=-1)
    opt["train"]["optim_g"]["lr"] = 4e-3
    opt["datasets"]["train"].update(batch_size_per_gpu=4, dataset_enlarge_ratio=8)
    opt["datasets"]["val"] = {"name": "same", "type": "BicubicSRDataset", "dataroot_gt": str(data)}
    opt["val"] = {"val_freq": iters, "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": 2}}}
    opt["logger"] = {"print_freq": 20, "save_checkpoint_freq": 10_000}
    result = train_pipeline(opt, root=tmp_path)

    losses = [v["l_pix"] for _, v in result.losses]
    assert losses[-1] < 0.6 * losses[0], losses
    bicubic = []
    for p in sorted(data.iterdir()):
        hr = cv2.imread(str(p))[:, :, ::-1]
        bicubic.append(calculate_psnr(imresize(imresize(hr, 0.5), 2.0), hr, 2))
    psnr = result.metrics["same"]["psnr"]
    assert psnr > float(np.mean(bicubic)) + 0.3, (psnr, bicubic)
    csv_text = (tmp_path / "experiments" / "overfit" / "metrics.csv").read_text()
    assert "val:same,psnr" in csv_text
