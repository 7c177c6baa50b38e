"""SingleImageDataset (LQ only) and the test script on a set without GT (HAT/DRCT real-world test files)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import yaml

import swinsr
from swinsr.data import DATASET_REGISTRY, build_dataset
from swinsr.data.io import read_image, to_tensor, to_uint8
from swinsr.errors import OptionError

from train_helpers import TINY_NET, make_images, tiny_options


def _lq_folder(tmp_path):
    folder = make_images(tmp_path / "LR", n=2, size=16)
    (folder / "notes.txt").write_text("not an image")  # skipped: only image files are listed
    make_images(folder / "sub", n=1, size=16)  # BasicSR scans the folder itself, not sub-folders
    return folder


def _dataset(**opt):
    return build_dataset({"type": "SingleImageDataset", "phase": "test", "name": "real", **opt})


def test_dataset_yields_lq_and_path_only(tmp_path):
    folder = _lq_folder(tmp_path)
    ds = _dataset(dataroot_lq=str(folder))
    assert DATASET_REGISTRY.get("SingleImageDataset") is type(ds) and not ds.HAS_GT
    assert len(ds) == 2
    sample = ds[1]
    assert set(sample) == {"lq", "lq_path"}
    assert sample["lq_path"] == str(folder / "img01.png")
    assert torch.equal(sample["lq"], to_tensor(read_image(folder / "img01.png")))
    assert sample["lq"].shape == (3, 16, 16)


def test_meta_info_and_normalisation(tmp_path):
    folder = _lq_folder(tmp_path)
    meta = tmp_path / "meta.txt"
    meta.write_text("img01.png (16,16,3)\nsub/img00.png (16,16,3)\n")
    ds = _dataset(dataroot_lq=str(folder), meta_info_file=str(meta), mean=[0.5, 0.4, 0.3], std=[0.5, 0.5, 0.25])
    assert [p.name for p in ds.paths] == ["img01.png", "img00.png"]
    raw = to_tensor(read_image(folder / "sub" / "img00.png"))
    want = (raw - torch.tensor([0.5, 0.4, 0.3]).view(3, 1, 1)) / torch.tensor([0.5, 0.5, 0.25]).view(3, 1, 1)
    assert torch.allclose(ds[1]["lq"], want)


def test_bad_options_are_one_line_errors(tmp_path):
    folder = _lq_folder(tmp_path)
    with pytest.raises(OptionError, match="io_backend.type"):
        _dataset(dataroot_lq=str(folder), io_backend={"type": "lmdb"})
    with pytest.raises(OptionError, match="mean: 2 values"):
        _dataset(dataroot_lq=str(folder), mean=[0.5, 0.5])
    (tmp_path / "empty").mkdir()
    with pytest.raises(OptionError, match="no images"):
        _dataset(dataroot_lq=str(tmp_path / "empty"))
    meta = tmp_path / "meta.txt"
    meta.write_text("missing.png\n")
    with pytest.raises(OptionError, match="meta_info_file"):
        _dataset(dataroot_lq=str(folder), meta_info_file=str(meta))


def test_validation_during_training_on_lq_only_set_is_an_option_error(tmp_path):
    from swinsr.train.options import parse_options

    opt = tiny_options(make_images(tmp_path / "HR", n=2, size=16))
    opt["datasets"]["val_real"] = {"type": "SingleImageDataset", "dataroot_lq": str(_lq_folder(tmp_path))}
    with pytest.raises(OptionError, match=r"datasets\.val_real\.type: SingleImageDataset has no GT"):
        parse_options(opt, root=tmp_path)


def test_test_script_saves_outputs_of_a_set_without_gt(tmp_path, monkeypatch):
    """A HAT_GAN_Real_SRx4-style file (SingleImageDataset, no ``val`` section) through the CLI entry."""
    from swinsr.train.test import main

    folder = _lq_folder(tmp_path)
    torch.manual_seed(5)
    net = swinsr.build_model("SwinIR", **{k: v for k, v in TINY_NET.items() if k != "type"}).eval()
    weights = swinsr.save_checkpoint(net, tmp_path / "net.pth", ema=net)
    options = {
        "name": "real_test", "model_type": "SwinIRModel", "scale": 2, "num_gpu": 0,
        "datasets": {"test_1": {"name": "custom", "type": "SingleImageDataset", "dataroot_lq": str(folder), "io_backend": {"type": "disk"}}},
        "network_g": dict(TINY_NET),
        "path": {"pretrain_network_g": str(weights), "strict_load_g": True, "param_key_g": "params_ema"},
    }
    opt_file = tmp_path / "test_real.yml"
    opt_file.write_text(yaml.safe_dump(options))
    monkeypatch.chdir(tmp_path)
    assert main(["-opt", str(opt_file)]) == 0
    results = tmp_path / "results" / "real_test"
    outputs = sorted((results / "custom").iterdir())
    assert [p.name for p in outputs] == ["img00.png", "img01.png"]
    for p in outputs:
        got = read_image(p)
        assert got.shape == (32, 32, 3)  # x2 of the 16x16 inputs
        with torch.no_grad():
            want = to_uint8(net(to_tensor(read_image(folder / p.name))[None]))
        assert np.array_equal(got, want)
    assert "metrics skipped" in (results / "test_real_test.log").read_text()


def test_test_script_still_needs_metrics_for_a_set_with_gt(tmp_path, capsys):
    from swinsr.train.test import main

    hr = make_images(tmp_path / "HR", n=1, size=16)
    lr = tmp_path / "LRpair"
    lr.mkdir()
    cv2.imwrite(str(lr / "img00.png"), cv2.resize(cv2.imread(str(hr / "img00.png")), (8, 8)))
    weights = swinsr.save_checkpoint(
        swinsr.build_model("SwinIR", **{k: v for k, v in TINY_NET.items() if k != "type"}), tmp_path / "net.pth"
    )
    options = {
        "name": "mixed", "model_type": "SwinIRModel", "scale": 2, "num_gpu": 0,
        "datasets": {
            "test_1": {"type": "SingleImageDataset", "dataroot_lq": str(_lq_folder(tmp_path))},
            "test_2": {"type": "PairedImageDataset", "dataroot_gt": str(hr), "dataroot_lq": str(lr)},
        },
        "network_g": dict(TINY_NET),
        "path": {"pretrain_network_g": str(weights)},
    }
    opt_file = tmp_path / "mixed.yml"
    opt_file.write_text(yaml.safe_dump(options))
    assert main(["-opt", str(opt_file)]) == 2
    assert "val.metrics: missing" in capsys.readouterr().err
