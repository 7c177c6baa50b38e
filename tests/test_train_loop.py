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
