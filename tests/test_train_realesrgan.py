"""Real-ESRNet / Real-ESRGAN training from the shipped official-format option files (CPU, tiny).

Each test reads ``options/train/train_real{esrnet,esrgan}_x4plus.yml`` and edits what a user
edits (data paths, network_g; network_d kept but narrowed) plus the sizes that make a CPU test
fast (patch, batch, pool, iterations).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
import torch

from swinsr.errors import OptionError
from swinsr.losses.vgg import VGG19_CFG
from swinsr.train import train_pipeline
from swinsr.train.options import parse_options, read_yaml

from train_helpers import make_images

REPO = Path(__file__).resolve().parents[1]
ESRNET = REPO / "options/train/train_realesrnet_x4plus.yml"
ESRGAN = REPO / "options/train/train_realesrgan_x4plus.yml"

TINY_X4 = {
    "type": "SwinIR", "upscale": 4, "in_chans": 3, "img_size": 8, "window_size": 4, "img_range": 1.0,
    "depths": [1], "embed_dim": 8, "num_heads": [2], "mlp_ratio": 2, "upsampler": "pixelshuffledirect",
    "resi_connection": "1conv",
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """HR training images, and a paired x4 set (for validation and paired training)."""
    root = tmp_path_factory.mktemp("real")
    hr = make_images(root / "hr", n=4, size=48)
    val_hr = make_images(root / "val_hr", n=2, size=32, seed=3)
    (root / "val_lr").mkdir()
    for p in sorted(val_hr.iterdir()):
        img = cv2.imread(str(p))
        cv2.imwrite(str(root / "val_lr" / f"{p.stem}x4.png"), cv2.resize(img, (8, 8), interpolation=cv2.INTER_AREA))
    return {"hr": hr, "val_hr": val_hr, "val_lr": root / "val_lr", "root": root}


@pytest.fixture(scope="module")
def vgg(tmp_path_factory):
    """The first block of a torchvision-layout VGG19 state dict, random (the real one is never downloaded).

    The tests use ``conv1_2`` only: the whole VGG19 would make every CPU iteration seconds long,
    and the perceptual loss itself is tested in test_train_components.
    """
    gen = torch.Generator().manual_seed(0)
    sd, in_ch = {}, 3
    for idx, v in ((0, VGG19_CFG[0]), (2, VGG19_CFG[1])):
        sd[f"features.{idx}.weight"] = torch.randn(v, in_ch, 3, 3, generator=gen) * (2.0 / (9 * in_ch)) ** 0.5
        sd[f"features.{idx}.bias"] = torch.zeros(v)
        in_ch = v
    path = tmp_path_factory.mktemp("vgg") / "vgg19.pth"
    torch.save(sd, path)
    return path


def official(path: Path, data: dict, *, name: str, total_iter: int = 4, vgg: Path | None = None) -> dict:
    """The shipped file with the user's edits (paths, networks) and CPU-test sizes."""
    opt = read_yaml(path)
    opt.update(name=name, num_gpu=0, gt_size=32, queue_size=4)
    train = opt["datasets"]["train"]
    train.update(dataroot_gt=str(data["hr"]), gt_size=32, batch_size_per_gpu=2, num_worker_per_gpu=0)
    opt["datasets"]["val"].update(dataroot_gt=str(data["val_hr"]), dataroot_lq=str(data["val_lr"]))
    opt["network_g"] = dict(TINY_X4)
    if "network_d" in opt:
        opt["network_d"]["num_feat"] = 4
    opt["path"]["pretrain_network_g"] = None
    opt["train"].update(total_iter=total_iter)
    opt["train"]["scheduler"]["milestones"] = [2]
    if "perceptual_opt" in opt["train"]:
        opt["train"]["perceptual_opt"].update(vgg_weights=str(vgg), layer_weights={"conv1_2": 1.0})
    opt["val"]["save_img"] = False
    opt["logger"].update(print_freq=1, save_checkpoint_freq=total_iter, use_tb_logger=False)
    return opt


def test_shipped_files_parse_without_warnings():
    # (every shipped file, HAT's Real_HAT ones included, is also linted by test_train_options)
    for path in (ESRNET, ESRGAN):
        opt, warnings = parse_options(path, check_paths=False)
        assert warnings == [], warnings
        assert opt["queue_size"] == 180 and opt["resize_prob"] == [0.2, 0.7, 0.1]


def test_realesrnet_trains_from_the_official_file(data, tmp_path):
    result = train_pipeline(official(ESRNET, data, name="esrnet", total_iter=3), root=tmp_path)
    assert result.iter == 3 and [it for it, _ in result.losses] == [1, 2, 3]
    assert all(torch.isfinite(torch.tensor(v["l_pix"])) for _, v in result.losses)
    assert set(result.metrics["Set14_realx4"]) == {"psnr"}
    models = tmp_path / "experiments/esrnet/models"
    assert sorted(p.name for p in models.iterdir()) == ["net_g_3.pth", "net_g_latest.pth"]
    state = torch.load(tmp_path / "experiments/esrnet/training_states/3.state", weights_only=True)
    # the pool (4 pairs, full after 2 batches of 2) is part of the state
    assert state["pool"]["ptr"] == 4 and tuple(state["pool"]["lq"].shape) == (4, 3, 8, 8) and tuple(state["pool"]["gt"].shape) == (4, 3, 32, 32)


def test_realesrgan_resumes_exactly(data, vgg, tmp_path):
    """6 iterations straight == 3 + resume + 3: both networks, both optimizers, EMA and the pool."""
    full = train_pipeline(official(ESRGAN, data, name="full", total_iter=6, vgg=vgg), root=tmp_path)
    train_pipeline(official(ESRGAN, data, name="split", total_iter=3, vgg=vgg), root=tmp_path)
    resumed = train_pipeline(official(ESRGAN, data, name="split", total_iter=6, vgg=vgg), root=tmp_path, auto_resume=True)
    assert resumed.resumed_from == 3
    terms = {"l_g_pix", "l_g_percep", "l_g_gan", "l_d_real", "l_d_fake", "out_d_real", "out_d_fake"}
    assert set(full.losses[0][1]) == terms
    full_losses = dict(full.losses)
    for it, values in resumed.losses:
        assert values == full_losses[it], (it, values, full_losses[it])
    exp_full, exp_split = tmp_path / "experiments/full", tmp_path / "experiments/split"
    names = sorted(p.name for p in (exp_split / "models").iterdir())
    assert names == ["net_d_3.pth", "net_d_6.pth", "net_d_latest.pth", "net_g_3.pth", "net_g_6.pth", "net_g_latest.pth"]
    for net, keys in (("g", ("params", "params_ema")), ("d", ("params",))):
        a = torch.load(exp_full / f"models/net_{net}_6.pth", weights_only=True)
        b = torch.load(exp_split / f"models/net_{net}_6.pth", weights_only=True)
        assert set(keys) <= set(a)
        for key in keys:
            for k in a[key]:
                assert torch.equal(a[key][k], b[key][k]), (net, key, k)
    state = torch.load(exp_split / "training_states/6.state", weights_only=True)
    assert state["optimizer_names"] == ["g", "d"] and len(state["optimizers"]) == 2
    assert "weight_u" in "".join(state["net_d"]) and state["pool"]["ptr"] == 4


HAT_MSE = REPO / "options/train/train_Real_HAT_SRx4_mse_model.yml"
HAT_GAN = REPO / "options/train/train_Real_HAT_GAN_SRx4_finetune_from_mse_model.yml"
TINY_HAT_X4 = {
    "type": "HAT", "upscale": 4, "in_chans": 3, "img_size": 8, "window_size": 4, "compress_ratio": 3,
    "squeeze_factor": 6, "conv_scale": 0.01, "overlap_ratio": 0.5, "img_range": 1.0, "depths": [1],
    "embed_dim": 12, "num_heads": [2], "mlp_ratio": 2, "upsampler": "pixelshuffle", "resi_connection": "1conv",
}


@pytest.mark.parametrize("path", [HAT_MSE, HAT_GAN], ids=lambda p: p.stem)
def test_hat_real_files_train(data, vgg, tmp_path, path):
    """HAT's Real_HAT option files (RealHATMSEModel / RealHATGANModel) with a tiny HAT."""
    opt = official(path, data, name=path.stem, total_iter=2, vgg=vgg)
    opt["network_g"] = dict(TINY_HAT_X4)
    result = train_pipeline(opt, root=tmp_path)
    assert result.iter == 2 and "psnr" in result.metrics["Set14_realx4"]


def test_paired_data_without_high_order_degradation(data, vgg, tmp_path):
    for path, name in ((ESRNET, "net_paired"), (ESRGAN, "gan_paired")):
        opt = official(path, data, name=name, total_iter=2, vgg=vgg)
        opt["high_order_degradation"] = False
        opt["queue_size"] = 3  # not used without the synthetic degradation: not checked
        opt["datasets"]["train"] = {
            "name": "pairs", "type": "RealESRGANPairedDataset", "dataroot_gt": str(data["val_hr"]),
            "dataroot_lq": str(data["val_lr"]), "filename_tmpl": "{}x4", "gt_size": 16, "batch_size_per_gpu": 2,
            "num_worker_per_gpu": 0, "use_hflip": True, "use_rot": False,
        }
        opt["network_g"]["img_size"] = 4
        result = train_pipeline(opt, root=tmp_path)
        assert result.iter == 2


def test_pretrained_discriminator_loads_and_a_misfit_says_so(data, vgg, tmp_path):
    from swinsr.train.models import MODEL_REGISTRY

    fixture = Path(__file__).resolve().parents[2] / "shared/fixtures/degradations/unet_discriminator_sn.pth"
    if not fixture.is_file():
        pytest.skip(f"shared fixture {fixture} absent")
    opt = official(ESRGAN, data, name="netd", vgg=vgg)
    opt["network_d"]["num_feat"] = 16  # the fixture's width: a RealESRGAN_x4plus_netD-layout file
    opt["path"]["pretrain_network_d"] = str(fixture)
    parsed, _ = parse_options(opt, root=tmp_path)
    model = MODEL_REGISTRY.get("RealESRGANModel")(parsed, torch.device("cpu"))
    want = torch.load(fixture, weights_only=True)["params"]
    for k, v in model.net_d.state_dict().items():
        assert torch.equal(v, want[k]), k
    opt["network_d"]["num_feat"] = 8
    parsed, _ = parse_options(opt, root=tmp_path)
    with pytest.raises(OptionError) as err:
        MODEL_REGISTRY.get("RealESRGANModel")(parsed, torch.device("cpu"))
    msg = str(err.value)
    assert msg.startswith("path.pretrain_network_d: ") and "shape mismatch" in msg and "\n" not in msg


@pytest.mark.parametrize(
    "edit, key",
    [
        (lambda o: o.update(resize_prob=[0.2, 0.7, 0.2]), "resize_prob: probabilities must sum to 1"),
        (lambda o: o.update(jpeg_range2=[30, 101]), "jpeg_range2: values must be within 1-100"),
        (lambda o: o.update(jpeg_range=[0, 95]), "jpeg_range: values must be within 1-100"),
        (lambda o: o.update(queue_size=5), "queue_size: 5 is not divisible by datasets.train.batch_size_per_gpu 2"),
        (lambda o: o.update(gaussian_noise_prob=1.5), "gaussian_noise_prob: a probability must be within 0-1"),
        (lambda o: o["datasets"]["train"].update(kernel_prob=[0.5, 0.5, 0.1, 0, 0, 0]), "kernel_prob: probabilities must sum to 1"),
        (lambda o: o["datasets"]["train"].update(type="PairedImageDataset", dataroot_lq=o["datasets"]["val"]["dataroot_lq"]), "datasets.train.type: PairedImageDataset gives no degradation kernels"),
        (lambda o: o["train"]["gan_opt"].update(gan_type="ralsgan"), "train.gan_opt: gan_type: 'ralsgan' is not supported"),
        (lambda o: o["train"].pop("optim_d"), "train.optim_d: missing"),
        (lambda o: o.pop("network_d"), "network_d: missing"),
        (lambda o: o["network_d"].update(type="VGGStyleDiscriminator"), "network_d.type: unknown arch type 'VGGStyleDiscriminator'"),
    ],
)
def test_bad_options_stop_before_training(data, vgg, tmp_path, edit, key):
    opt = official(ESRGAN, data, name="bad", vgg=vgg)
    edit(opt)
    with pytest.raises(OptionError) as err:
        train_pipeline(opt, root=tmp_path)
    msg = str(err.value)
    assert key in msg and "\n" not in msg, msg
    assert not (tmp_path / "experiments").exists()  # nothing was started


@pytest.mark.slow
def test_realesrgan_two_process_gloo_run(data, vgg, tmp_path):
    """DDP: both networks wrapped, the generator step through the unwrapped discriminator."""
    import os
    import socket
    import subprocess
    import sys

    import yaml

    opt = official(ESRGAN, data, name="ddp", total_iter=3, vgg=vgg)
    opt["path"]["experiments_root"] = str(tmp_path / "experiments" / "ddp")
    opt["num_threads"] = 1
    opt_file = tmp_path / "ddp.yml"
    opt_file.write_text(yaml.safe_dump(opt))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}",
        "-m", "swinsr.train", "-opt", str(opt_file), "--launcher", "pytorch",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    models = tmp_path / "experiments" / "ddp" / "models"
    d = torch.load(models / "net_d_3.pth", weights_only=True)["params"]
    assert "conv1.weight_orig" in d and not any(k.startswith("module.") for k in d)
