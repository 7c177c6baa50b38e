"""What a training run keeps on disk: logger.keep_checkpoints, the free-space check before a save, stale temp files."""

from __future__ import annotations

from collections import namedtuple

import pytest
import torch

from swinsr.errors import OptionError, SwinSRError
from swinsr.train import train_pipeline
from swinsr.train import retention
from swinsr.train.loop import estimate_save_bytes, find_resume_state
from swinsr.train.retention import last_save_bytes, prune_checkpoints, remove_stale_temp_files

from train_helpers import make_images, tiny_options


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def _run(data, tmp_path, name, total_iter, keep=None, **kw):
    opt = tiny_options(data, name=name, total_iter=total_iter)
    opt["logger"].update(save_checkpoint_freq=1, keep_checkpoints=keep)
    return train_pipeline(opt, root=tmp_path, **kw)


def test_keep_checkpoints_keeps_the_newest_saves_and_the_run_still_resumes(tmp_path):
    data = make_images(tmp_path / "hr", n=2, size=32)
    _run(data, tmp_path, "k", 5, keep=2)
    exp = tmp_path / "experiments" / "k"
    assert _names(exp / "models") == ["net_g_4.pth", "net_g_5.pth", "net_g_latest.pth"]
    assert _names(exp / "training_states") == ["4.state", "5.state"]
    assert "keep_checkpoints 2: removed" in (exp / "train_k.log").read_text()
    resumed = _run(data, tmp_path, "k", 7, keep=2, auto_resume=True)
    assert resumed.resumed_from == 5
    assert _names(exp / "training_states") == ["6.state", "7.state"]
    # without the option every save stays, as in BasicSR
    _run(data, tmp_path, "all", 3)
    assert _names(tmp_path / "experiments/all/training_states") == ["1.state", "2.state", "3.state"]


def test_prune_leaves_newer_weights_and_other_files_alone(tmp_path):
    models, states = tmp_path / "models", tmp_path / "states"
    models.mkdir()
    states.mkdir()
    for it in (2, 4, 6):
        (states / f"{it}.state").write_bytes(b"s")
    for name in ("net_g_2.pth", "net_d_2.pth", "net_g_4.pth", "net_g_6.pth", "net_g_8.pth", "net_g_latest.pth", "notes.txt"):
        (models / name).write_bytes(b"w")
    removed = prune_checkpoints(models, states, keep=1)
    assert sorted(p.name for p in removed) == ["2.state", "4.state", "net_d_2.pth", "net_g_2.pth", "net_g_4.pth"]
    # net_g_8 has no state (its save failed half-way): newer than every state, so it stays
    assert _names(models) == ["net_g_6.pth", "net_g_8.pth", "net_g_latest.pth", "notes.txt"]
    assert _names(states) == ["6.state"]
    assert prune_checkpoints(models, states, keep=3) == []
    with pytest.raises(ValueError):
        prune_checkpoints(models, states, keep=0)


def test_keep_checkpoints_must_be_positive(tmp_path):
    data = make_images(tmp_path / "hr", n=2, size=32)
    with pytest.raises(OptionError, match="logger.keep_checkpoints"):
        _run(data, tmp_path, "bad", 2, keep=0)


def test_temp_files_of_an_interrupted_save_are_removed_at_restart(tmp_path):
    data = make_images(tmp_path / "hr", n=2, size=32)
    _run(data, tmp_path, "t", 2)
    exp = tmp_path / "experiments" / "t"
    left = [exp / "models" / ".net_g_3.pth.k2j4h.tmp", exp / "training_states" / ".3.state.x8z1q.tmp"]
    for p in left:
        p.write_bytes(b"partial")
    kept = exp / "models" / "mine.tmp"  # not a name the atomic writer makes
    kept.write_bytes(b"user file")
    _run(data, tmp_path, "t", 3, auto_resume=True)
    assert not any(p.exists() for p in left)
    assert kept.exists()
    assert "removed 2 unfinished file(s)" in (exp / "train_t.log").read_text()
    assert remove_stale_temp_files([exp / "models", tmp_path / "absent"]) == []


def test_a_save_that_cannot_fit_is_refused_before_writing(tmp_path, monkeypatch):
    data = make_images(tmp_path / "hr", n=2, size=32)
    _run(data, tmp_path, "full", 2)
    exp = tmp_path / "experiments" / "full"
    before = (_names(exp / "models"), _names(exp / "training_states"))
    need = last_save_bytes(exp / "models", exp / "training_states")
    # the size of the last save, measured from its files: one state plus each net written twice
    assert need == (exp / "training_states/2.state").stat().st_size + 2 * (exp / "models/net_g_2.pth").stat().st_size
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(retention.shutil, "disk_usage", lambda path: usage(10**9, 10**9 - need, need))
    with pytest.raises(SwinSRError, match=r"saving the checkpoint of iter 3 needs about \d+ MB in .* only \d+ MB are free"):
        _run(data, tmp_path, "full", 4, auto_resume=True)
    # nothing written, nothing half-written, and the run resumes from iter 2 once there is room
    assert (_names(exp / "models"), _names(exp / "training_states")) == before
    monkeypatch.undo()
    assert find_resume_state(exp / "training_states").name == "2.state"
    assert _run(data, tmp_path, "full", 3, auto_resume=True).resumed_from == 2


def test_the_first_save_estimate_covers_what_it_writes(tmp_path):
    from swinsr.train.models import MODEL_REGISTRY
    from swinsr.train.options import parse_options

    data = make_images(tmp_path / "hr", n=2, size=32)
    _run(data, tmp_path, "est", 1)
    exp = tmp_path / "experiments" / "est"
    written = last_save_bytes(exp / "models", exp / "training_states")
    opt = tiny_options(data, name="est2", total_iter=1)
    opt, _ = parse_options(opt, root=tmp_path)
    model = MODEL_REGISTRY.get(opt["model_type"])(opt, torch.device("cpu"))
    model.train_step(next(iter(_loader(opt))), 1)  # the optimizer's moments exist from the first step on
    estimate = estimate_save_bytes(model)
    # tensors only (no pickle overhead), so a little below what the files take, never far off
    assert 0.5 * written < estimate <= written


def _loader(opt):
    from swinsr.data import build_dataloader, build_dataset

    return build_dataloader(build_dataset(opt["datasets"]["train"]), opt["datasets"]["train"])
