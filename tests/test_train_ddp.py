"""Two-process DistributedDataParallel training on CPU with the gloo backend (via torchrun)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import torch
import yaml

from train_helpers import make_images, tiny_options


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_gloo_run(tmp_path):
    data = make_images(tmp_path / "hr", n=4, size=32)
    opt = tiny_options(data, name="ddp", total_iter=4)
    opt["logger"]["save_checkpoint_freq"] = 2
    opt["path"] = {"experiments_root": str(tmp_path / "experiments" / "ddp")}
    opt["num_threads"] = 1
    opt_file = tmp_path / "ddp.yml"
    opt_file.write_text(yaml.safe_dump(opt))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}",
        "-m", "swinsr.train", "-opt", str(opt_file), "--launcher", "pytorch",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    exp = tmp_path / "experiments" / "ddp"
    log = (exp / "train_ddp.log").read_text()
    # only rank 0 logs: one line per iteration, not two
    assert sum("iter:       3," in line for line in log.splitlines()) == 1
    assert (exp / "models" / "net_g_4.pth").is_file() and (exp / "training_states" / "4.state").is_file()
    ckpt = torch.load(exp / "models" / "net_g_4.pth", weights_only=True)
    # the reference layout, plus the configuration the reference loaders ignore (plain containers)
    assert set(ckpt) == {"params", "params_ema", "swinsr_spec"}
    assert ckpt["swinsr_spec"]["swinsr_arch"] == "swinir"
    assert not any(k.startswith("module.") for k in ckpt["params"])  # the DDP wrapper is not saved
    # the 2-process run resumes like any other
    proc = subprocess.run(cmd + ["--auto_resume", "--force_yml", "train:total_iter=5"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Resuming training from iter 4" in (exp / "train_ddp.log").read_text()
    assert (exp / "models" / "net_g_5.pth").is_file()
