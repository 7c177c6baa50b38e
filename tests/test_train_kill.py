"""A run killed with SIGKILL (no clean-up at all) resumes from its last checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from swinsr.train import train_pipeline
from swinsr.train.loop import find_resume_state

from train_helpers import make_images, tiny_options


@pytest.mark.slow
def test_sigkilled_run_resumes_from_its_last_checkpoint(tmp_path):
    data = make_images(tmp_path / "hr", n=3, size=32)
    opt = tiny_options(data, name="killed", total_iter=100_000)
    opt["logger"]["save_checkpoint_freq"] = 1  # saving all the time: the kill likely lands mid-save
    opt["num_threads"] = 1
    opt_file = tmp_path / "o.yml"
    opt_file.write_text(yaml.safe_dump(opt))
    states = tmp_path / "experiments" / "killed" / "training_states"
    proc = subprocess.Popen([sys.executable, "-m", "swinsr.train", "-opt", str(opt_file)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and len(list(states.glob("*.state"))) < 3:
            time.sleep(0.2)
        assert len(list(states.glob("*.state"))) >= 3, "the run did not reach 3 checkpoints"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    last = find_resume_state(states)
    assert last is not None
    n = int(last.stem)
    # every state that is found names weights that exist and load
    assert (states.parent / "models" / f"net_g_{n}.pth").is_file()
    result = train_pipeline(tiny_options(data, name="killed", total_iter=n + 2), root=tmp_path, auto_resume=True)
    assert result.resumed_from == n and result.iter == n + 2
    torch.load(states.parent / "models" / "net_g_latest.pth", weights_only=True)
