"""Training loop: a tiny config learns, resumes exactly, and writes reference-layout checkpoints."""

from __future__ import annotations

import torch

import swinsr
from swinsr.train import train_pipeline
from swinsr.train.loop import find_resume_state
from swinsr.train.logger import MetricsCSV

from train_helpers import make_images, tiny_options


def test_exact_resume_follows_the_same_trajectory(tmp_path):
    data = make_images(tmp_path / "hr", n=3, size=32)
    full = train_pipeline(tiny_options(data, name="full", total_iter=6), root=tmp_path)
    # the same run stopped at iteration 3 (a checkpoint), then resumed to 6
    train_pipeline(tiny_options(data, name="split", total_iter=3), root=tmp_path)
    resumed = train_pipeline(tiny_options(data, name="split", total_iter=6), root=tmp_path, auto_resume=True)
    assert resumed.resumed_from == 3
    full_losses = {it: v["l_pix"] for it, v in full.losses}
    resumed_losses = {it: v["l_pix"] for it, v in resumed.losses}
    assert sorted(resumed_losses) == [4, 5, 6]
    for it in (4, 5, 6):
        assert resumed_losses[it] == full_losses[it], (it, resumed_losses[it], full_losses[it])
    log = (tmp_path / "experiments" / "split" / "train_split.log").read_text()
    assert "Resuming training from iter 3" in log
    # the CSV keeps one row per logged iteration, none duplicated by the resume
    rows = [r for r in MetricsCSV(tmp_path / "experiments" / "split" / "metrics.csv").read() if r["name"] == "l_pix"]
    assert [int(r["iter"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    # final weights agree too
    a = torch.load(tmp_path / "experiments/full/models/net_g_latest.pth", weights_only=True)
    b = torch.load(tmp_path / "experiments/split/models/net_g_latest.pth", weights_only=True)
    for k in a["params"]:
        assert torch.equal(a["params"][k], b["params"][k]), k
        assert torch.equal(a["params_ema"][k], b["params_ema"][k]), k


def test_checkpoints_are_reference_layout_and_load_strictly(tmp_path):
    data = make_images(tmp_path / "hr", n=2, size=32)
    train_pipeline(tiny_options(data, total_iter=3), root=tmp_path)
    models = tmp_path / "experiments" / "tiny" / "models"
    assert sorted(p.name for p in models.iterdir()) == ["net_g_3.pth", "net_g_latest.pth"]
    ckpt = torch.load(models / "net_g_3.pth", weights_only=True)
    # the reference layout, plus the configuration the reference loaders ignore (plain containers)
    assert set(ckpt) == {"params", "params_ema", "swinsr_spec"}
    assert ckpt["swinsr_spec"]["swinsr_arch"] == "swinir"
    # derived buffers are in the file, as the reference code's strict loading needs
    assert any(k.endswith("relative_position_index") for k in ckpt["params"])
    assert any(k.endswith("attn_mask") for k in ckpt["params_ema"])
    model = swinsr.load_model(models / "net_g_latest.pth")  # strict; prefers params_ema
    assert model.swinsr_spec.arch == "swinir" or type(model).__name__ == "SwinIR"
    ema = {k: v for k, v in ckpt["params_ema"].items() if k in model.state_dict()}
    for k, v in model.state_dict().items():
        assert torch.equal(v, ema[k]), k
    state = torch.load(tmp_path / "experiments/tiny/training_states/3.state", weights_only=True)
    assert state["iter"] == 3 and {"optimizers", "schedulers", "rng", "ema", "net_g", "epoch"} <= set(state)
    assert find_resume_state(tmp_path / "experiments/tiny/training_states").name == "3.state"


def test_incomplete_state_files_are_ignored_on_resume(tmp_path):
    states = tmp_path / "states"
    states.mkdir()
    torch.save({"iter": 2, "epoch": 0}, states / "2.state")
    (states / "4.state").write_bytes(b"truncated")  # a save interrupted by a crash would look like this
    (states / ".4.state.abc.tmp").write_bytes(b"partial")
    assert find_resume_state(states).name == "2.state"


def test_test_pipeline_scores_a_checkpoint(tmp_path):
    import cv2
    import numpy as np

    from swinsr.data.io import read_image, to_tensor, to_uint8
    from swinsr.imresize import imresize
    from swinsr.metrics import calculate_psnr
    from swinsr.train.test import test_pipeline

    from train_helpers import TINY_NET

    gt_dir = make_images(tmp_path / "HR", n=2, size=24)
    lq_dir = tmp_path / "LR"
    lq_dir.mkdir()
    for p in sorted(gt_dir.iterdir()):
        cv2.imwrite(str(lq_dir / f"{p.stem}x2.png"), imresize(cv2.imread(str(p)), 0.5))
    torch.manual_seed(3)
    net = swinsr.build_model("SwinIR", **{k: v for k, v in TINY_NET.items() if k != "type"}).eval()
    weights = tmp_path / "net.pth"
    swinsr.save_checkpoint(net, weights, ema=net)
    opt = {
        "name": "t", "model_type": "SRModel", "scale": 2, "num_gpu": 0,
        "datasets": {"test_1": {"name": "pairs", "type": "PairedImageDataset", "dataroot_gt": str(gt_dir), "dataroot_lq": str(lq_dir), "filename_tmpl": "{}x2"}},
        "network_g": dict(TINY_NET),
        "path": {"pretrain_network_g": str(weights), "param_key_g": "params_ema"},
        "val": {"save_img": True, "suffix": "_sr", "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": 2, "test_y_channel": True}}},
    }
    result = test_pipeline(opt, root=tmp_path)
    expected = []
    for p in sorted(gt_dir.iterdir()):
        lq = read_image(lq_dir / f"{p.stem}x2.png")
        with torch.no_grad():
            sr = to_uint8(net(to_tensor(lq)[None]))
        expected.append(calculate_psnr(sr, read_image(p), 2, test_y_channel=True))
    assert abs(result["pairs"]["psnr"] - float(np.mean(expected))) < 1e-9
    assert (tmp_path / "results" / "t" / "pairs" / "img00x2_sr.png").is_file()


def test_worker_processes_do_not_change_the_samples(tmp_path):
    data = make_images(tmp_path / "hr", n=3, size=32)
    runs = {}
    for workers in (0, 2):
        opt = tiny_options(data, name=f"w{workers}", total_iter=4)
        opt["datasets"]["train"]["num_worker_per_gpu"] = workers
        runs[workers] = [v["l_pix"] for _, v in train_pipeline(opt, root=tmp_path).losses]
    assert runs[0] == runs[2]


def test_self_ensemble_validation(tmp_path):
    data = make_images(tmp_path / "hr", n=2, size=24)
    results = {}
    for ensemble in (False, True):
        opt = tiny_options(data, name=f"e{int(ensemble)}", total_iter=1)
        opt["train"]["ema_decay"] = 0.0
        opt["datasets"]["val"] = {"name": "v", "type": "BicubicSRDataset", "dataroot_gt": str(data)}
        opt["val"] = {"val_freq": 1, "self_ensemble": ensemble, "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": 2}}}
        results[ensemble] = train_pipeline(opt, root=tmp_path).metrics["v"]["psnr"]
    assert results[True] != results[False] and all(5 < v < 60 for v in results.values())


def test_auto_resume_refuses_when_no_state_is_readable(tmp_path):
    import pytest

    from swinsr.errors import CheckpointError

    states = tmp_path / "states"
    states.mkdir()
    (states / "4.state").write_bytes(b"truncated")
    (states / "2.state").write_bytes(b"")
    # starting over would archive the run's folder and its history without a word
    with pytest.raises(CheckpointError, match="none of the 2 training states"):
        find_resume_state(states)


def test_resuming_with_a_changed_network_is_a_one_line_error(tmp_path):
    import pytest

    from swinsr.errors import CheckpointError

    data = make_images(tmp_path / "hr", n=2, size=32)
    train_pipeline(tiny_options(data, name="run", total_iter=2), root=tmp_path)
    changed = tiny_options(data, name="run", total_iter=4)
    changed["network_g"]["embed_dim"] = 2 * changed["network_g"]["embed_dim"]
    with pytest.raises(CheckpointError, match=r"2\.state: does not fit this run's options .*new name") as info:
        train_pipeline(changed, root=tmp_path, auto_resume=True)
    assert "\n" not in str(info.value)


def test_ema_turned_on_at_resume_starts_from_the_resumed_weights(tmp_path):
    data = make_images(tmp_path / "hr", n=2, size=32)
    plain = tiny_options(data, name="run", total_iter=3)
    plain["train"]["ema_decay"] = 0  # the first part trains without EMA: its state has none
    train_pipeline(plain, root=tmp_path)
    resumed = tiny_options(data, name="run", total_iter=4)
    resumed["train"]["ema_decay"] = 0.999
    train_pipeline(resumed, root=tmp_path, auto_resume=True)
    models = tmp_path / "experiments" / "run" / "models"
    at3 = torch.load(models / "net_g_3.pth", weights_only=True)["params"]
    at4 = torch.load(models / "net_g_4.pth", weights_only=True)
    for k, v in at4["params_ema"].items():
        if v.is_floating_point() and k in at3:
            # 0.999 * (weights at 3) + 0.001 * (weights at 4): within a thousandth of one step of the resumed weights
            step = (at4["params"][k] - at3[k]).abs().max()
            assert float((v - at3[k]).abs().max()) <= 0.0011 * float(step) + 1e-7, k


def test_a_failed_save_is_a_one_line_error_that_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    import errno

    import pytest

    from swinsr.errors import SwinSRError
    from swinsr.train.models.base import BaseModel

    data = make_images(tmp_path / "hr", n=2, size=32)
    train_pipeline(tiny_options(data, name="run", total_iter=2), root=tmp_path)

    def disk_full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(BaseModel, "save_training_state", disk_full)
    with pytest.raises(SwinSRError, match="free disk space, then rerun with --auto_resume") as info:
        train_pipeline(tiny_options(data, name="run", total_iter=4), root=tmp_path, auto_resume=True)
    assert "\n" not in str(info.value) and "No space left" in str(info.value)
    assert find_resume_state(tmp_path / "experiments" / "run" / "training_states").name == "2.state"
