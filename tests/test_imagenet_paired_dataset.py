"""ImageNetPairedDataset: HAT/DRCT ``*_ImageNet_from_scratch`` option files, LQ made from the whole GT image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import yaml

from swinsr.data import DATASET_REGISTRY, build_dataset
from swinsr.errors import OptionError
from swinsr.imresize import imresize
from swinsr.train.options import parse_options

from train_helpers import TINY_NET

SCALE, GT_SIZE = 2, 16


def _imagenet(tmp_path):
    """A tiny ImageNet-like tree (class folders of JPEG/PNG files) and a ``train_map.txt`` (path + label)."""
    rng = np.random.default_rng(3)
    root = tmp_path / "imagenet" / "train"
    shapes = {"n01/a.png": (27, 33), "n01/b.png": (12, 21), "n02/c.png": (40, 15)}  # b, c: smaller than gt_size
    for rel, (h, w) in shapes.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / rel), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    meta = tmp_path / "imagenet" / "train_map.txt"
    meta.write_text("n01/a.png 0\nn02/c.png 1\nn01/b.png 0\n")
    return root, meta, shapes


def _option_file(tmp_path, root, meta):
    """Shaped like HAT's options/train/train_HAT_SRx2_ImageNet_from_scratch.yml (tiny network, tiny data)."""
    opt = {
        "name": "train_HAT_SRx2_ImageNet_from_scratch", "model_type": "HATModel", "scale": SCALE,
        "num_gpu": "auto", "manual_seed": 0,
        "datasets": {"train": {
            "name": "ImageNet", "type": "ImageNetPairedDataset", "dataroot_gt": str(root), "dataroot_lq": str(root),
            "meta_info_file": str(meta), "io_backend": {"type": "disk"}, "gt_size": GT_SIZE,
            "use_hflip": True, "use_rot": True, "use_shuffle": True, "num_worker_per_gpu": 0,
            "batch_size_per_gpu": 2, "dataset_enlarge_ratio": 1, "prefetch_mode": None,
        }},
        "network_g": dict(TINY_NET),
        "path": {"pretrain_network_g": None, "strict_load_g": True, "resume_state": None},
        "train": {
            "ema_decay": 0.999, "optim_g": {"type": "Adam", "lr": 2e-4, "weight_decay": 0, "betas": [0.9, 0.99]},
            "scheduler": {"type": "MultiStepLR", "milestones": [3], "gamma": 0.5}, "total_iter": 4, "warmup_iter": -1,
            "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0, "reduction": "mean"},
        },
        "logger": {"print_freq": 100, "save_checkpoint_freq": 10000, "use_tb_logger": True, "wandb": {"project": None, "resume_id": None}},
        "dist_params": {"backend": "nccl", "port": 29500},
    }
    path = tmp_path / "train_HAT_SRx2_ImageNet_from_scratch.yml"
    path.write_text(yaml.safe_dump(opt))
    return path


def _reference_pair(path, scale, gt_size):
    """The reference semantics written out independently: float read, modcrop, cv2 enlarge, float MATLAB bicubic."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.0
    h, w = img.shape[0] - img.shape[0] % scale, img.shape[1] - img.shape[1] % scale
    img = cv2.resize(np.ascontiguousarray(img[:h, :w]), (max(w, gt_size), max(h, gt_size)))
    return img, imresize(img.astype(np.float64), 1.0 / scale)


def _locate(patch, whole):
    """Top-left of ``patch`` inside ``whole`` (exact match)."""
    ph, pw = patch.shape[:2]
    hits = [(t, l) for t in range(whole.shape[0] - ph + 1) for l in range(whole.shape[1] - pw + 1)
            if np.array_equal(whole[t : t + ph, l : l + pw], patch)]
    assert len(hits) == 1, hits
    return hits[0]


def test_official_shaped_file_parses_without_warnings_and_matches_reference(tmp_path):
    root, meta, shapes = _imagenet(tmp_path)
    opt, warnings = parse_options(_option_file(tmp_path, root, meta), root=tmp_path)
    assert warnings == []
    dopt = opt["datasets"]["train"]
    ds = build_dataset(dopt)
    assert type(ds) is DATASET_REGISTRY.get("ImageNetPairedDataset")
    assert [p.relative_to(root).as_posix() for p in ds.store.paths] == ["n01/a.png", "n02/c.png", "n01/b.png"]
    ds.opt.update(use_hflip=False, use_rot=False)  # compare the crop itself with the reference pair
    for i, p in enumerate(ds.store.paths):
        sample = ds[(i, 11 + i)]
        gt, lq = sample["gt"].numpy().transpose(1, 2, 0), sample["lq"].numpy().transpose(1, 2, 0)
        assert gt.shape == (GT_SIZE, GT_SIZE, 3) and lq.shape == (GT_SIZE // SCALE, GT_SIZE // SCALE, 3)
        ref_gt, ref_lq = _reference_pair(p, SCALE, GT_SIZE)
        top, left = _locate(gt, ref_gt)
        assert top % SCALE == 0 and left % SCALE == 0
        t, l = top // SCALE, left // SCALE
        np.testing.assert_allclose(lq, ref_lq[t : t + GT_SIZE // SCALE, l : l + GT_SIZE // SCALE], atol=1e-5)
    # the LQ is float (not rounded to uint8) and made from the whole image, not the patch
    whole_gt, whole_lq = _reference_pair(ds.store.paths[0], SCALE, GT_SIZE)
    assert not np.allclose(whole_lq * 255, np.round(whole_lq * 255))


def test_augmentation_and_validation_phase(tmp_path):
    root, meta, shapes = _imagenet(tmp_path)
    base = {"type": "ImageNetPairedDataset", "dataroot_gt": str(root), "scale": SCALE, "gt_size": GT_SIZE, "name": "in"}
    ds = build_dataset({**base, "phase": "train"})
    assert len(ds) == 3  # no meta file: folder scanned recursively
    a, b = ds[(0, 5)], ds[(0, 5)]
    assert torch.equal(a["gt"], b["gt"]) and torch.equal(a["lq"], b["lq"])  # per-sample seed
    val = build_dataset({**base, "phase": "val", "gt_size": None})
    sample = val[0]  # n01/a.png 27x33 -> modcrop 26x32, no enlarging without gt_size
    assert sample["gt"].shape == (3, 26, 32) and sample["lq"].shape == (3, 13, 16)
    norm = build_dataset({**base, "phase": "val", "mean": [0.5], "std": [0.25]})
    raw = build_dataset({**base, "phase": "val"})
    assert torch.allclose(norm[1]["gt"], (raw[1]["gt"] - 0.5) / 0.25)
    assert torch.allclose(norm[1]["lq"], (raw[1]["lq"] - 0.5) / 0.25)


def test_bad_options_are_one_line_errors(tmp_path):
    root, meta, shapes = _imagenet(tmp_path)
    base = {"type": "ImageNetPairedDataset", "dataroot_gt": str(root), "scale": SCALE, "phase": "train", "name": "in"}
    with pytest.raises(OptionError, match="gt_size: ImageNetPairedDataset needs"):
        build_dataset(base)
    with pytest.raises(OptionError, match="gt_size: 15 is not a multiple"):
        build_dataset({**base, "gt_size": 15})
    with pytest.raises(OptionError, match="io_backend.type: 'lmdb'"):
        build_dataset({**base, "gt_size": 16, "io_backend": {"type": "lmdb"}})
