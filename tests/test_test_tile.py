"""The top-level ``tile:`` section of HAT test option files (HAT_tile_example.yml): tiled testing via Upscaler."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import yaml

import swinsr
from swinsr.data.io import read_image
from swinsr.errors import OptionError
from swinsr.inference.upscaler import Upscaler
from swinsr.train.options import parse_options
from swinsr.train import test as test_script

from train_helpers import TINY_NET, make_images

LR_SIZE, TILE, PAD = 24, 8, 8


def _setup(tmp_path):
    hr = make_images(tmp_path / "HR", n=2, size=2 * LR_SIZE)
    lr = tmp_path / "LR"
    lr.mkdir()
    for p in sorted(hr.iterdir()):
        cv2.imwrite(str(lr / p.name), swinsr.imresize(cv2.imread(str(p)), 0.5))
    torch.manual_seed(3)
    net = swinsr.build_model("SwinIR", **{k: v for k, v in TINY_NET.items() if k != "type"}).eval()
    weights = swinsr.save_checkpoint(net, tmp_path / "net.pth", ema=net)
    return hr, lr, weights


def _options(name, hr, lr, weights, tile=None):
    opt = {
        "name": name, "model_type": "HATModel", "scale": 2, "num_gpu": 0, "manual_seed": 0,
        "datasets": {"test_1": {"name": "tiny", "type": "PairedImageDataset", "dataroot_gt": str(hr), "dataroot_lq": str(lr),
                                "io_backend": {"type": "disk"}}},
        "network_g": dict(TINY_NET),
        "path": {"pretrain_network_g": str(weights), "strict_load_g": True, "param_key_g": "params_ema"},
        "val": {"save_img": True, "suffix": None,
                "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": 2, "test_y_channel": True}}},
    }
    if tile is not None:
        opt["tile"] = tile
    return opt


def test_tiled_test_run_matches_whole_image_run_and_really_tiles(tmp_path, monkeypatch):
    hr, lr, weights = _setup(tmp_path)
    calls: list[tuple[int, ...]] = []
    original = Upscaler._model_call

    def counting(self, x):
        calls.append(tuple(x.shape))
        return original(self, x)

    monkeypatch.setattr(Upscaler, "_model_call", counting)
    whole = test_script.test_pipeline(_options("whole", hr, lr, weights), root=tmp_path)
    assert calls == []  # no tile section: whole images, not through the Upscaler

    opt_file = tmp_path / "HAT_tile_example.yml"
    opt_file.write_text(yaml.safe_dump(_options("tiled", hr, lr, weights, {"tile_size": TILE, "tile_pad": PAD})))
    opt, warnings = parse_options(opt_file, is_train=False, root=tmp_path)
    assert warnings == [] and opt["tile"] == {"tile_size": TILE, "tile_pad": PAD}
    monkeypatch.chdir(tmp_path)
    assert test_script.main(["-opt", str(opt_file)]) == 0
    # 2 images of 24x24 LQ in 8-pixel tiles: 9 tiles each, each at most tile + 2 * pad pixels wide
    assert len(calls) == 2 * 9
    assert all(s[-1] <= TILE + 2 * PAD and s[-2] <= TILE + 2 * PAD for s in calls)
    for p in sorted(hr.iterdir()):
        a = read_image(tmp_path / "results" / "whole" / "tiny" / p.name).astype(int)
        b = read_image(tmp_path / "results" / "tiled" / "tiny" / p.name).astype(int)
        assert a.shape == b.shape == (2 * LR_SIZE, 2 * LR_SIZE, 3)
        assert np.abs(a - b).max() <= 1
    tiled = test_script.test_pipeline(opt_file, root=tmp_path)
    assert tiled["tiny"]["psnr"] == pytest.approx(whole["tiny"]["psnr"], abs=0.05)


@pytest.mark.parametrize("tile, message", [
    ({"tile_size": 0, "tile_pad": 32}, r"tile\.tile_size: 0 must be a positive"),
    ({"tile_size": "big", "tile_pad": 32}, r"tile\.tile_size: expected int"),
    ({"tile_size": True}, r"tile\.tile_size: expected int"),
    ({"tile_pad": 32}, r"tile\.tile_size: missing"),
    ({"tile_size": 64, "tile_pad": -1}, r"tile\.tile_pad: -1 must be >= 0"),
    ("512", r"tile: expected mapping"),
])
def test_bad_tile_section_is_a_one_line_option_error(tmp_path, tile, message):
    hr, lr, weights = tmp_path, tmp_path, tmp_path / "w.pth"
    with pytest.raises(OptionError, match=message):
        parse_options(_options("bad", hr, lr, weights, tile), is_train=False, check_paths=False, root=tmp_path)


def test_unknown_tile_key_warns(tmp_path):
    opt, warnings = parse_options(_options("w", tmp_path, tmp_path, tmp_path / "w.pth", {"tile_size": 64, "tile_overlap": 2}),
                                  is_train=False, check_paths=False, root=tmp_path)
    assert opt["tile"]["tile_pad"] == 32
    assert warnings == ["tile.tile_overlap: unknown option, ignored"]


def test_training_validation_uses_the_tile_section_too(tmp_path, monkeypatch):
    from swinsr.data import build_dataloader, build_dataset
    from swinsr.train.dist import DistInfo
    from swinsr.train.models import MODEL_REGISTRY

    from train_helpers import tiny_options

    hr, lr, _ = _setup(tmp_path)
    val = {"type": "PairedImageDataset", "dataroot_gt": str(hr), "dataroot_lq": str(lr)}
    raw = tiny_options(hr, val={"val_freq": 2, "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": 2}}})
    raw["datasets"]["val_1"] = val
    scores = {}
    calls = []
    original = Upscaler._model_call
    monkeypatch.setattr(Upscaler, "_model_call", lambda self, x: calls.append(x.shape) or original(self, x))
    for tile in (None, {"tile_size": TILE, "tile_pad": PAD}):
        opt, _ = parse_options({**raw, **({"tile": tile} if tile else {})}, root=tmp_path)
        torch.manual_seed(0)
        model = MODEL_REGISTRY.get(opt["model_type"])(opt, torch.device("cpu"), DistInfo())
        dopt = opt["datasets"]["val_1"]
        scores[bool(tile)] = model.validation(build_dataloader(build_dataset(dopt), dopt), 1)["psnr"]
    assert len(calls) == 2 * 9
    assert scores[True] == pytest.approx(scores[False], abs=0.05)
