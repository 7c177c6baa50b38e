"""Option files: BasicSR syntax is accepted, mistakes fail before training with the key named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from swinsr.errors import OptionError
from swinsr.train.options import apply_force_yml, parse_options

from train_helpers import make_images, tiny_options

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def data(tmp_path):
    return make_images(tmp_path / "hr", n=2, size=32)


def write(tmp_path: Path, opt: dict) -> Path:
    p = tmp_path / "opt.yml"
    p.write_text(yaml.safe_dump(opt))
    return p


def test_basicsr_syntax_and_defaults(tmp_path, data):
    text = yaml.safe_dump(tiny_options(data)).replace("lr: 0.002", "lr: !!float 2e-3").replace("total_iter: 6", "total_iter: !!float 6")
    p = tmp_path / "opt.yml"
    p.write_text(text)
    opt, warnings = parse_options(p, root=tmp_path)
    assert opt["train"]["optim_g"]["lr"] == 2e-3
    assert opt["train"]["total_iter"] == 6 and isinstance(opt["train"]["total_iter"], int)
    assert opt["datasets"]["train"]["scale"] == 2  # propagated from the top level
    assert opt["path"]["models"] == str(tmp_path / "experiments" / "tiny" / "models")
    assert warnings == []


def test_unknown_keys_warn(tmp_path, data):
    o = tiny_options(data)
    o["train"]["unknown_knob"] = 1
    o["network_g"]["not_an_arg"] = 3
    _, warnings = parse_options(o, root=tmp_path)
    assert any("train.unknown_knob" in w for w in warnings)
    assert any("network_g.not_an_arg" in w for w in warnings)


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda o: o["datasets"]["train"].update(dataroot_gt="/no/such/folder"), "datasets.train.dataroot_gt"),
        (lambda o: o["datasets"]["train"].update(type="NoSuchDataset"), "allowed: BicubicSRDataset"),
        (lambda o: o["network_g"].update(type="NoSuchNet"), "network_g.type"),
        (lambda o: o.update(model_type="GANModel"), "model_type"),
        (lambda o: o["train"]["pixel_opt"].update(type="L3Loss"), "train.pixel_opt.type"),
        (lambda o: o["train"]["optim_g"].update(type="Adagrad"), "allowed: Adam, AdamW"),
        (lambda o: o["train"]["scheduler"].update(type="StepLR"), "train.scheduler.type"),
        (lambda o: o["train"].update(total_iter="many"), "train.total_iter"),
        (lambda o: o["datasets"]["train"].update(batch_size_per_gpu=2.5), "datasets.train.batch_size_per_gpu"),
        (lambda o: o["datasets"]["train"].update(use_hflip="yes"), "datasets.train.use_hflip"),
        (lambda o: o["train"].pop("optim_g"), "train.optim_g"),
        (lambda o: o.update(scale=4), "scale"),
        (lambda o: o["path"].update(pretrain_network_g="/no/such.pth") if "path" in o else o.update(path={"pretrain_network_g": "/no/such.pth"}), "path.pretrain_network_g"),
        (lambda o: o.update(val={"val_freq": 2, "metrics": {"psnr": {"type": "calculate_lpips"}}}), "val.metrics.psnr.type"),
        (lambda o: o["train"].update(perceptual_opt={"type": "PerceptualLoss", "layer_weights": {"conv5_4": 1}, "vgg_weights": "/no/vgg19.pth"}), "train.perceptual_opt.vgg_weights"),
        (lambda o: o["datasets"]["train"].update(color="cmyk"), "datasets.train.color"),
        (lambda o: o["datasets"]["train"].update(color="gray"), "network_g.in_chans is 3"),
    ],
)
def test_bad_options_fail_fast_naming_the_key(tmp_path, data, mutate, expected):
    o = tiny_options(data)
    mutate(o)
    with pytest.raises(OptionError, match=expected.replace(".", r"\.")):
        parse_options(write(tmp_path, o), root=tmp_path)


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    p = tmp_path / "broken.yml"
    p.write_text("name: x\ntrain: [unclosed\n")
    with pytest.raises(OptionError, match=r"broken\.yml: line \d+"):
        parse_options(p)


def test_force_yml_overrides_nested_values():
    opt = {"train": {"total_iter": 10, "scheduler": {"milestones": [5]}}}
    apply_force_yml(opt, ["train:total_iter=20", "train.scheduler.milestones=[8, 9]", "logger:print_freq=1"])
    assert opt["train"]["total_iter"] == 20
    assert opt["train"]["scheduler"]["milestones"] == [8, 9]
    assert opt["logger"]["print_freq"] == 1
    with pytest.raises(OptionError, match="key=value"):
        apply_force_yml(opt, ["train:total_iter"])


def test_debug_mode(tmp_path, data):
    opt, _ = parse_options(tiny_options(data), debug=True, root=tmp_path)
    assert opt["name"] == "debug_tiny" and opt["logger"]["print_freq"] == 1 and opt["logger"]["save_checkpoint_freq"] == 8


@pytest.mark.parametrize("path", sorted((REPO / "options").rglob("*.yml")), ids=lambda p: p.name)
def test_shipped_option_files_are_valid(path):
    """Every shipped file parses and passes the type/registry checks (data paths are not required here)."""
    is_train = path.parent.name == "train"
    opt, warnings = parse_options(path, check_paths=False, is_train=is_train, root=REPO)
    assert warnings == [], warnings
    assert opt["name"]
