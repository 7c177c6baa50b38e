"""Training building blocks: sampler, datasets, schedules, losses, EMA, BasicSR bridge."""

from __future__ import annotations

import math
import sys
import types

import numpy as np
import pytest
import torch

import swinsr

from swinsr.data import BicubicSRDataset, EnlargedSampler, GaussianNoiseDataset, ImageFolderDataset, JPEGDataset, PairedImageDataset
from swinsr.data.base import LOADER_FIELDS
from swinsr.errors import OptionError
from swinsr.imresize import imresize
from swinsr.losses import CharbonnierLoss, L1Loss, PerceptualLoss, build_loss
from swinsr.losses.vgg import VGG19_CFG
from swinsr.train.ema import EMA
from swinsr.train.lr import CosineAnnealingRestartLR, LRController, MultiStepLR, MultiStepRestartLR
from swinsr.train.schema import check_section

from train_helpers import make_images


def dataset_opt(cls, **kw):
    return check_section(kw, cls.option_fields(), "datasets.x", warn=lambda m: None)


# ----------------------------------------------------------------------------- sampler
def test_sampler_resumes_mid_epoch_and_splits_ranks():
    s = EnlargedSampler(10, num_replicas=1, rank=0, ratio=2, seed=3)
    s.set_epoch(1)
    full = list(s)
    assert len(full) == 20 and sorted(i for i, _ in full) == sorted(list(range(10)) * 2)
    s.set_epoch(1, skip=7)
    assert list(s) == full[7:] and len(s) == 13
    s.set_epoch(2)
    assert list(s) != full  # a new order per epoch
    ranks = [EnlargedSampler(10, num_replicas=2, rank=r, seed=3) for r in (0, 1)]
    for r in ranks:
        r.set_epoch(0)
    a, b = list(ranks[0]), list(ranks[1])
    assert len(a) == len(b) == 5 and not set(a) & set(b)


# ----------------------------------------------------------------------------- datasets
def test_bicubic_dataset_makes_matlab_lr_of_the_patch(tmp_path):
    root = make_images(tmp_path / "hr", n=3, size=40)
    make_images(tmp_path / "hr" / "sub", n=1, size=12, seed=5)  # too small for the patch: skipped
    ds = BicubicSRDataset(dataset_opt(BicubicSRDataset, type="BicubicSRDataset", dataroot_gt=str(root), gt_size=16, scale=2, phase="train"))
    assert len(ds) == 3 and ds.store.cached
    s = ds[(1, 1234)]
    assert s["gt"].shape == (3, 16, 16) and s["lq"].shape == (3, 8, 8)
    gt = (s["gt"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    expected = imresize(gt, 0.5)
    assert np.array_equal((s["lq"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), expected)
    assert torch.equal(ds[(1, 1234)]["lq"], s["lq"])  # same key, same sample (worker independent)
    assert not torch.equal(ds[(1, 99)]["gt"], s["gt"])
    val = BicubicSRDataset(dataset_opt(BicubicSRDataset, type="BicubicSRDataset", dataroot_gt=str(root), scale=3, phase="val"))
    v = val[0]
    assert v["gt"].shape == (3, 39, 39) and v["lq"].shape == (3, 13, 13)  # mod-crop


def test_paired_dataset_matches_names_and_crops_aligned(tmp_path):
    gt_dir = make_images(tmp_path / "gt", n=2, size=32)
    lq_dir = tmp_path / "lq"
    lq_dir.mkdir()
    import cv2

    for p in sorted(gt_dir.iterdir()):
        img = cv2.imread(str(p))
        cv2.imwrite(str(lq_dir / f"{p.stem}x2.png"), img[::2, ::2])
    opt = dataset_opt(PairedImageDataset, type="PairedImageDataset", dataroot_gt=str(gt_dir), dataroot_lq=str(lq_dir), filename_tmpl="{}x2", gt_size=16, scale=2)
    ds = PairedImageDataset(opt)
    s = ds[(0, 5)]
    # LQ was made by taking every other pixel, so the GT patch subsampled must equal the LQ patch
    assert torch.equal(s["gt"][:, ::2, ::2], s["lq"])
    with pytest.raises(OptionError, match="no LQ image"):
        PairedImageDataset({**opt, "filename_tmpl": "{}_lr"})


def test_noise_and_jpeg_datasets(tmp_path):
    root = make_images(tmp_path / "hr", n=2, size=32)
    noise = GaussianNoiseDataset(dataset_opt(GaussianNoiseDataset, type="GaussianNoiseDataset", dataroot_gt=str(root), gt_size=24, sigma=25))
    s = noise[(0, 1)]
    assert abs(float((s["lq"] - s["gt"]).std()) * 255 - 25) < 3
    ranged = GaussianNoiseDataset(dataset_opt(GaussianNoiseDataset, type="GaussianNoiseDataset", dataroot_gt=str(root), gt_size=24, sigma_range=[0, 50]))
    stds = [float((x["lq"] - x["gt"]).std()) * 255 for x in (ranged[(0, k)] for k in range(8))]
    assert max(stds) - min(stds) > 5
    val = GaussianNoiseDataset(dataset_opt(GaussianNoiseDataset, type="GaussianNoiseDataset", dataroot_gt=str(root), phase="val", sigma=15))
    assert torch.equal(val[0]["lq"], val[0]["lq"]) and val[0]["lq"].shape == (3, 32, 32)
    jpeg = JPEGDataset(dataset_opt(JPEGDataset, type="JPEGDataset", dataroot_gt=str(root), gt_size=24, quality=10, color="gray"))
    j = jpeg[(1, 2)]
    assert j["lq"].shape == (1, 24, 24) and 0 < float((j["lq"] - j["gt"]).abs().mean()) < 0.2
    with pytest.raises(OptionError, match="quality"):
        JPEGDataset(dataset_opt(JPEGDataset, type="JPEGDataset", dataroot_gt=str(root), gt_size=24, quality=0))
    with pytest.raises(OptionError, match="scale"):
        JPEGDataset(dataset_opt(JPEGDataset, type="JPEGDataset", dataroot_gt=str(root), gt_size=24, quality=10, scale=2))


def test_strength_power_biases_training_draws_to_the_low_end(tmp_path, monkeypatch):
    import swinsr.data.degradation_datasets as dd

    root = make_images(tmp_path / "hr", n=2, size=32)
    drawn = []
    monkeypatch.setattr(dd, "jpeg_roundtrip", lambda img, q: drawn.append(q) or img)
    for power in (1, 3):
        ds = JPEGDataset(dataset_opt(JPEGDataset, type="JPEGDataset", dataroot_gt=str(root), gt_size=24, quality_range=[10, 90], quality_power=power))
        drawn.clear()
        for k in range(400):
            ds[(k % 2, k)]
        low = sum(q <= 30 for q in drawn) / len(drawn)
        assert 10 <= min(drawn) and max(drawn) <= 90 and all(isinstance(q, int) for q in drawn)
        # uniform: P(q <= 30) = 21/81 = 0.26; with u ** 3: (21/81) ** (1/3) = 0.64
        assert abs(low - (0.26 if power == 1 else 0.64)) < 0.08, (power, low)
    assert len(set(drawn)) > 40  # still the whole range, not only its low end
    noise = GaussianNoiseDataset(dataset_opt(GaussianNoiseDataset, type="GaussianNoiseDataset", dataroot_gt=str(root), gt_size=24, sigma_range=[0, 50], sigma_power=2))
    stds = sorted(float((noise[(0, k)]["lq"] - noise[(0, k)]["gt"]).std()) * 255 for k in range(60))
    assert stds[30] < 18  # median of 50 * u ** 2 is 12.5 (uniform: 25)
    with pytest.raises(OptionError, match="quality_power"):
        JPEGDataset(dataset_opt(JPEGDataset, type="JPEGDataset", dataroot_gt=str(root), gt_size=24, quality_range=[10, 90], quality_power=0))


def test_image_folder_dataset(tmp_path):
    make_images(tmp_path / "cls" / "b_dog", n=2, size=40, seed=1)
    make_images(tmp_path / "cls" / "a_cat", n=3, size=40, seed=2)
    ds = ImageFolderDataset(dataset_opt(ImageFolderDataset, type="ImageFolderDataset", dataroot=str(tmp_path / "cls"), img_size=32))
    assert ds.classes == ["a_cat", "b_dog"] and sorted(ds.labels) == [0, 0, 0, 1, 1]
    s = ds[(4, 7)]
    assert s["img"].shape == (3, 32, 32) and s["label"] == 1
    val = ImageFolderDataset(dataset_opt(ImageFolderDataset, type="ImageFolderDataset", dataroot=str(tmp_path / "cls"), img_size=32, phase="val"))
    assert val[0]["img"].shape == (3, 32, 32)


# ----------------------------------------------------------------------------- schedules
def test_schedules_follow_basicsr_semantics():
    assert [MultiStepLR([2, 4], 0.5).lr(1.0, s) for s in range(6)] == [1, 1, 0.5, 0.5, 0.25, 0.25]
    r = MultiStepRestartLR([2, 6], 0.5, restarts=[4], restart_weights=[0.8])
    assert [r.lr(1.0, s) for s in range(8)] == [1, 1, 0.5, 0.5, 0.8, 0.8, 0.4, 0.4]
    c = CosineAnnealingRestartLR([4, 4], [1, 0.5], eta_min=0.0)
    assert c.lr(1.0, 0) == 1.0 and abs(c.lr(1.0, 2) - 0.5) < 1e-12 and abs(c.lr(1.0, 4)) < 1e-12
    assert abs(c.lr(1.0, 6) - 0.25) < 1e-12
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=0.1)
    ctl = LRController([opt], MultiStepLR([3], 0.1), warmup_iter=4)
    rates = []
    for it in range(1, 7):
        ctl.step(it)
        rates.append(opt.param_groups[0]["lr"])
    expected = [0.025, 0.05, 0.075, 0.01, 0.01, 0.01]
    assert all(math.isclose(a, b) for a, b in zip(rates, expected)), rates


# ----------------------------------------------------------------------------- losses
def test_pixel_losses():
    a, b = torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.5)
    assert float(L1Loss(loss_weight=2.0)(a, b)) == 1.0
    assert abs(float(CharbonnierLoss(eps=1e-3)(a, b)) - math.sqrt(0.25 + 1e-6)) < 1e-6
    assert float(build_loss({"type": "MSELoss", "reduction": "sum"}, "x")(a, b)) == 1.0
    with pytest.raises(OptionError, match="x: unknown option"):
        build_loss({"type": "L1Loss", "eps": 1}, "x")


def fake_vgg19_file(path):
    torch.manual_seed(0)
    sd, idx, in_ch = {}, 0, 3
    for v in VGG19_CFG:
        if v == "M":
            idx += 1
            continue
        sd[f"features.{idx}.weight"] = torch.randn(v, in_ch, 3, 3) * (2.0 / (9 * in_ch)) ** 0.5
        sd[f"features.{idx}.bias"] = torch.zeros(v)
        in_ch, idx = v, idx + 2
    sd["classifier.0.weight"] = torch.zeros(4, 4)
    torch.save(sd, path)
    return path


def test_perceptual_loss_reads_torchvision_layout(tmp_path):
    weights = fake_vgg19_file(tmp_path / "vgg19.pth")
    loss = PerceptualLoss({"conv3_4": 1.0, "relu2_2": 0.5}, vgg_weights=str(weights), style_weight=1.0)
    assert len(loss.vgg.features) == 17  # truncated after conv3_4 (torchvision index 16)
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    percep, style = loss(x, x.detach())
    assert float(percep.detach()) == 0.0 and float(style.detach()) == 0.0
    percep, style = loss(x, torch.rand(1, 3, 32, 32))
    assert float(percep.detach()) > 0 and float(style.detach()) > 0
    percep.backward()
    assert x.grad is not None and all(p.grad is None for p in loss.vgg.parameters())
    with pytest.raises(OptionError, match="never downloads"):
        PerceptualLoss({"conv5_4": 1.0}, vgg_weights=str(tmp_path / "absent.pth"))
    with pytest.raises(OptionError, match="unknown VGG19 layer"):
        PerceptualLoss({"conv9_9": 1.0}, vgg_weights=str(weights))


# ----------------------------------------------------------------------------- EMA
def test_ema_update():
    net = torch.nn.Linear(2, 2)
    ema = EMA(net, 0.9)
    with torch.no_grad():
        net.weight.add_(1.0)
    before = ema.module.weight.clone()
    ema.update(net)
    assert torch.allclose(ema.module.weight, 0.9 * before + 0.1 * net.weight)
    assert not ema.module.weight.requires_grad


# ----------------------------------------------------------------------------- BasicSR bridge
def test_basicsr_register_with_a_stand_in_registry(monkeypatch):
    from swinsr.integrations import basicsr as bridge

    class FakeRegistry:
        def __init__(self):
            self._obj_map = {"SwinIR": object}

        def _do_register(self, name, obj):
            assert name not in self._obj_map
            self._obj_map[name] = obj

    reg = FakeRegistry()
    pkg = types.ModuleType("basicsr")
    utils = types.ModuleType("basicsr.utils")
    registry = types.ModuleType("basicsr.utils.registry")
    registry.ARCH_REGISTRY = reg
    for name, mod in (("basicsr", pkg), ("basicsr.utils", utils), ("basicsr.utils.registry", registry)):
        monkeypatch.setitem(sys.modules, name, mod)
    pkg.utils, utils.registry = utils, registry
    names = bridge.register()
    expected = [f.type_name for f in swinsr.archs.families()]
    assert "HAT" in expected and "DAT" in expected and "SwinIR" in expected
    assert names == ["SwinsrSwinIR" if n == "SwinIR" else n for n in expected]
    assert reg._obj_map["Swin2SR"].__module__.startswith("swinsr.")
    assert bridge.register() == names  # idempotent
    bridge.register(overwrite=True)
    assert reg._obj_map["SwinIR"].__module__.startswith("swinsr.")


def test_basicsr_register_says_why_when_unavailable(monkeypatch):
    from swinsr.integrations import basicsr as bridge

    monkeypatch.setitem(sys.modules, "basicsr", None)  # import fails like a missing package
    monkeypatch.setitem(sys.modules, "basicsr.utils.registry", None)
    with pytest.raises(bridge.BasicSRUnavailable, match="basicsr does not import here"):
        bridge.register()


def test_loader_fields_cover_basicsr_dataset_keys():
    for key in ("num_worker_per_gpu", "batch_size_per_gpu", "dataset_enlarge_ratio", "prefetch_mode", "use_shuffle", "io_backend"):
        assert key in LOADER_FIELDS


def test_sr_model_with_perceptual_loss_and_gradient_clipping(tmp_path):
    from swinsr.train.models import SRModel
    from swinsr.train.options import parse_options

    from train_helpers import tiny_options

    data = make_images(tmp_path / "hr", n=2, size=32)
    weights = fake_vgg19_file(tmp_path / "vgg19.pth")
    batch = {"lq": torch.rand(2, 3, 8, 8), "gt": torch.rand(2, 3, 16, 16)}
    changes = {}
    for clip in (None, 1e-12):
        o = tiny_options(data)
        o["train"]["perceptual_opt"] = {"type": "PerceptualLoss", "layer_weights": {"relu2_1": 1.0}, "vgg_weights": str(weights), "perceptual_weight": 0.1}
        o["train"]["grad_clip_norm"] = clip
        opt, _ = parse_options(o, root=tmp_path)
        torch.manual_seed(0)
        model = SRModel(opt, torch.device("cpu"))
        before = [p.detach().clone() for p in model.net_g.parameters()]
        losses = model.train_step(batch, 1)
        assert set(losses) == {"l_pix", "l_percep"} and float(losses["l_percep"]) > 0
        changes[clip] = sum(float((p.detach() - b).abs().sum()) for p, b in zip(model.net_g.parameters(), before))
    # a gradient clipped to ~0 moves Adam's weights far less (its step is only scale-free above eps)
    assert changes[1e-12] < 0.01 * changes[None]


def test_meta_info_file_selects_images(tmp_path):
    root = make_images(tmp_path / "hr", n=3, size=32)
    meta = tmp_path / "meta.txt"
    meta.write_text("img02.png (32,32,3)\nimg00.png (32,32,3)\n")  # BasicSR meta_info lines: path + shape
    ds = BicubicSRDataset(dataset_opt(BicubicSRDataset, type="BicubicSRDataset", dataroot_gt=str(root), gt_size=16, scale=2, meta_info_file=str(meta)))
    assert [p.name for p in ds.store.paths] == ["img02.png", "img00.png"]
