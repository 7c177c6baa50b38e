"""``swinsr train`` / ``python -m swinsr.train``: arguments, one-line errors, overrides."""

from __future__ import annotations

import pytest
import yaml

from swinsr.cli import main as cli_main
from swinsr.train.__main__ import build_parser
from swinsr.train.__main__ import main as module_main

from train_helpers import make_images, tiny_options


def test_module_parser_accepts_torchrun_and_basicsr_spellings():
    a = build_parser().parse_args(["-opt", "x.yml", "--launcher", "pytorch", "--local-rank", "1", "--auto_resume", "--force_yml", "a=1", "b:c=2"])
    assert a.opt == "x.yml" and a.launcher == "pytorch" and a.local_rank == 1 and a.auto_resume and a.force_yml == ["a=1", "b:c=2"]
    assert build_parser().parse_args(["--opt", "x.yml", "--local_rank=0"]).local_rank == 0


def test_bad_option_file_is_one_line_without_traceback(tmp_path, capsys):
    data = make_images(tmp_path / "hr", n=1, size=32)
    opt = tiny_options(data)
    opt["train"]["optim_g"]["type"] = "Adagrad"
    p = tmp_path / "bad.yml"
    p.write_text(yaml.safe_dump(opt))
    with pytest.raises(SystemExit) as exc:
        cli_main(["train", "-opt", str(p)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "train.optim_g.type" in err and "Traceback" not in err
    assert module_main(["-opt", str(tmp_path / "missing.yml")]) == 2
    assert "option file not found" in capsys.readouterr().err


def test_launcher_pytorch_without_torchrun_environment(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    data = make_images(tmp_path / "hr", n=1, size=32)
    p = tmp_path / "o.yml"
    p.write_text(yaml.safe_dump(tiny_options(data)))
    assert module_main(["-opt", str(p), "--launcher", "pytorch"]) == 2
    assert "torchrun" in capsys.readouterr().err


def test_cli_trains_with_overrides_after_one_flag(tmp_path, monkeypatch):
    data = make_images(tmp_path / "hr", n=2, size=32)
    p = tmp_path / "o.yml"
    p.write_text(yaml.safe_dump(tiny_options(data, name="cli")))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        cli_main(["train", "-opt", str(p), "--force_yml", "train:total_iter=2", "logger:save_checkpoint_freq=1"])
    assert exc.value.code in (0, None)
    models = tmp_path / "experiments" / "cli" / "models"
    assert sorted(f.name for f in models.iterdir()) == ["net_g_1.pth", "net_g_2.pth", "net_g_latest.pth"]
