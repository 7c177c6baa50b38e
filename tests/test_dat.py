"""DAT: reference parity (shared fixtures), detection of every released configuration, the fast
path against the plain one, checkpoint round trips, BatchNorm behaviour and training."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

import swinsr
from swinsr.archs import get_family
from swinsr.archs.dat import DAT, detect_dat
from swinsr.checkpoint import load_state_dict_into, reference_state_dict
from swinsr.detect import detect
from swinsr.errors import CheckpointError
from swinsr.layers import plain_path
from swinsr.layers.dat import dat_block_shifted, rect_border_masks, rect_shift_mask

from conftest import REPO, SHARED, SKIP_REASON
from train_helpers import make_images

FIXTURES = sorted((SHARED / "fixtures" / "dat").glob("*.json")) if SHARED else []
MANIFEST = json.loads((SHARED / "fixtures" / "manifests" / "dat.json").read_text())["models"] if SHARED else {}
needs_shared = pytest.mark.skipif(SHARED is None, reason=SKIP_REASON)

TINY = dict(img_size=16, embed_dim=32, drop_path_rate=0.0, split_size=[2, 4], depth=[4, 3], num_heads=[2, 2], expansion_factor=2,
            upscale=2, upsampler="pixelshuffledirect", resi_connection="1conv")


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: on a loaded 2-core machine OpenMP spin-waiting made tiny forwards 100x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _fixture(path):
    meta = json.loads(path.read_text())
    io = torch.load(path.with_suffix(".io.pt"), weights_only=True)
    return meta, io


def _shape_tensors(shapes: dict) -> dict[str, torch.Tensor]:
    """Tensors of the manifest's shapes (BatchNorm counters as int64 scalars); values carry nothing."""
    g = torch.Generator().manual_seed(0)
    return {k: torch.rand(s, generator=g) if s else torch.tensor(1) for k, s in shapes.items()}


# ----------------------------------------------------------------------------- reference parity


@needs_shared
@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-6), (torch.float32, 1e-4)], ids=["f64", "f32"])
def test_fixture_matches_reference(path, dtype, tol):
    meta, io = _fixture(path)
    model = swinsr.load_model(path.with_suffix(".pth")).to(dtype)
    assert not model.training  # BatchNorm on the (randomised) running statistics
    x = io["input"].to(dtype)
    with torch.no_grad():
        fast = model(x)
        assert fast.shape == io["output"].shape == tuple(meta["output_shape"])
        assert (fast.double() - io["output"]).abs().max().item() < tol
        if dtype == torch.float64:  # the reference-style path reproduces it too
            with plain_path():
                plain = model(x)
            assert (plain.double() - io["output"]).abs().max().item() < tol


@needs_shared
@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_fixture_detected_and_saved_in_reference_layout(path, tmp_path):
    meta, _ = _fixture(path)
    ref = torch.load(path.with_suffix(".pth"), weights_only=True)[meta["checkpoint_key"]]
    spec = detect(ref)
    assert spec.arch == "dat"
    assert {k: spec.kwargs[k] for k in meta["kwargs"]} == meta["kwargs"]
    # real buffers carry the split order: nothing about it is assumed
    assert not any(n.startswith("split_size") for n in spec.notes)
    model = swinsr.load_model(path.with_suffix(".pth"))
    saved = torch.load(swinsr.save_checkpoint(model, tmp_path / "m.pth"), weights_only=True)["params"]
    assert set(saved) == set(ref)
    for k, v in ref.items():
        assert saved[k].dtype == v.dtype and torch.equal(saved[k], v), k


# ----------------------------------------------------------------------------- detection


@needs_shared
@pytest.mark.filterwarnings("ignore:for .*copying from a non-meta parameter")
@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_manifest_config_detected_exactly_and_loads_strictly(name):
    entry = MANIFEST[name]
    sd = _shape_tensors(entry["state_dict"])
    spec = detect(sd)
    assert spec.arch == "dat" and spec.type_name == "DAT"
    assert {k: spec.kwargs[k] for k in entry["kwargs"]} == entry["kwargs"]
    # what shapes cannot tell is said, not hidden
    assert any(n.startswith("img_range") for n in spec.notes)
    assert any(n.startswith("split_size") for n in spec.notes)
    with torch.device("meta"):  # shapes only: building 20M-parameter models for real is slow
        model = spec.build()
    load_state_dict_into(model, sd)  # strict: every key and shape must match
    ref = reference_state_dict(model)
    assert set(ref) == set(sd)
    assert all(tuple(ref[k].shape) == tuple(v.shape) for k, v in sd.items())


@needs_shared
@pytest.mark.parametrize("family", ["swinir", "swin2sr", "swin_v1", "swin_v2", "hat", "drct"])
def test_other_families_are_not_claimed(family):
    manifest = SHARED / "fixtures" / "manifests" / f"{family}.json"
    for entry in json.loads(manifest.read_text())["models"].values():
        sd = {k: torch.empty(s) for k, s in entry["state_dict"].items()}
        assert detect_dat(sd) is None


def test_detection_failures_name_what_is_missing():
    sd = reference_state_dict(DAT(**TINY))
    del sd["layers.0.blocks.0.ffn.fc1.weight"]
    with pytest.raises(CheckpointError, match=r"layers\.0\.blocks\.0\.ffn\.fc1\.weight"):
        detect(sd)
    sd = reference_state_dict(DAT(**TINY))
    sd["layers.0.blocks.0.extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="unexpected entries: layers.0.blocks.0.extra.weight"):
        detect(sd)


def test_split_order_is_read_from_buffer_values_and_uncommon_settings_survive():
    kwargs = dict(TINY, split_size=[4, 2], qkv_bias=False, in_chans=1, upsampler="pixelshuffle", upscale=3, depth=[1, 2],
                  expansion_factor=2.66)
    spec = detect(reference_state_dict(DAT(**kwargs)))
    for key in ("split_size", "qkv_bias", "in_chans", "upsampler", "upscale", "depth", "img_size", "num_heads", "expansion_factor"):
        assert spec.kwargs[key] == kwargs[key], key
    assert any("num_heads of layers.0" in n for n in spec.notes)  # a one-block group has no channel block


# ----------------------------------------------------------------------------- fast path


@pytest.mark.parametrize("size", [(13, 21), (3, 5), (8, 8)], ids=["padded", "one-window", "exact"])
def test_fast_path_equals_plain_path(size):
    torch.manual_seed(0)
    model = DAT(**TINY).double().eval()
    _randomise_batchnorm(model)
    x = torch.rand(2, 3, *size, dtype=torch.float64)
    with torch.no_grad():
        fast = model(x)
        fast_again = model(x)  # cached bias / masks
        with plain_path():
            plain = model(x)
    assert fast.shape == (2, 3, 2 * size[0], 2 * size[1])
    assert (fast - plain).abs().max().item() < 1e-10
    assert torch.equal(fast, fast_again)


def test_fast_path_gradients_equal_plain_path_and_cache_follows_weights():
    torch.manual_seed(0)
    model = DAT(**TINY).double()
    x = torch.rand(2, 3, 11, 9, dtype=torch.float64)
    grads = []
    for plain in (False, True):
        model.zero_grad()
        if plain:
            with plain_path():
                model(x).square().mean().backward()
        else:
            model(x).square().mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for n in grads[0]:
        assert torch.allclose(grads[0][n], grads[1][n], atol=1e-10), n
    # eval cache: a weight change (as an optimizer step does, in place) must invalidate it
    model.eval()
    with torch.no_grad():
        before = model(x)
        pos = model.layers[0].blocks[2].attn.attns[0].pos.pos3[2].bias
        pos.add_(0.5)
        after = model(x)
        with plain_path():
            plain = model(x)
    assert not torch.equal(before, after)
    assert (after - plain).abs().max().item() < 1e-10


def test_shift_schedule_and_grouped_masks():
    # even groups shift blocks 2, 6, 10; odd groups 0, 4, 8 (spatial blocks only)
    assert [b for b in range(12) if dat_block_shifted(0, b)] == [2, 6, 10]
    assert [b for b in range(12) if dat_block_shifted(1, b)] == [0, 4, 8]
    full = rect_shift_mask(8, 12, 2, 4, 1, 2)  # 4 x 3 windows
    groups = rect_border_masks(2, 4, 1, 2)
    grid = full.view(4, 3, 8, 8)
    assert not grid[:-1, :-1].any()
    assert all(torch.equal(m, groups[0]) for m in grid[:-1, -1])
    assert all(torch.equal(m, groups[1]) for m in grid[-1, :-1])
    assert torch.equal(grid[-1, -1], groups[2])


# ----------------------------------------------------------------------------- contract, checkpoints


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="multiple of both split_size sides"):
        DAT(**dict(TINY, img_size=18))  # shifted blocks: the stored masks need whole windows
    DAT(**dict(TINY, img_size=18, depth=[2], num_heads=[2]))  # no shifted block: any img_size
    with pytest.raises(ValueError, match="larger side must be a multiple"):
        DAT(**dict(TINY, split_size=[3, 4]))
    with pytest.raises(ValueError, match="upsampler must be one of"):
        DAT(**dict(TINY, upsampler="nearest+conv"))


def test_contract_and_presets():
    model = DAT(**TINY)
    assert (model.scale, model.in_chans, model.out_chans, model.size_multiple) == (2, 3, 3, 4)
    x = torch.rand(1, 3, 5, 7)
    assert torch.equal(model.pad_to_multiple(x), x)  # DAT pads inside its attention, never the image
    assert model.estimate_bytes_per_pixel() > 0
    family = get_family("dat")
    assert family.order == 30 and family.type_name == "DAT"
    assert {"dat-light-x4", "dat-s-x4", "dat-x4"} <= set(family.presets)
    if SHARED:
        assert family.presets["dat-light-x4"] == {**MANIFEST["DAT_light_x4"]["kwargs"]}
        assert family.presets["dat-s-x4"] == MANIFEST["DAT_S_x4"]["kwargs"]
        assert family.presets["dat-x4"] == MANIFEST["DAT_x4"]["kwargs"]


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_save_load_round_trip(suffix, tmp_path):
    torch.manual_seed(1)
    kwargs = dict(TINY, qkv_bias=False, img_range=255.0, expansion_factor=1.5, resi_connection="3conv", split_size=[4, 2])
    model = DAT(**kwargs).eval()
    _randomise_batchnorm(model)
    path = swinsr.save_checkpoint(model, tmp_path / f"m{suffix}")
    if suffix == ".pth":
        saved = torch.load(path, weights_only=True)["params"]
        # derived buffers under the reference names, for the reference code's strict loading
        assert "layers.0.blocks.0.attn.attns.1.rpe_biases" in saved
        assert "layers.0.blocks.2.attn.attn_mask_0" in saved and "layers.1.blocks.0.attn.attn_mask_1" in saved
        assert "layers.0.blocks.0.attn.dwconv.1.running_var" in saved
        loaded = swinsr.load_model(path, img_range=255.0)  # the one value shapes cannot carry
    else:
        loaded = swinsr.load_model(path)
    for key, value in model.config.items():
        assert loaded.config[key] == value, key
    x = torch.rand(1, 3, 9, 10)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


# ----------------------------------------------------------------------------- BatchNorm, training


def _randomise_batchnorm(model: torch.nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)


def test_eval_uses_running_statistics():
    torch.manual_seed(0)
    model = DAT(**TINY).eval()
    _randomise_batchnorm(model)
    a, b = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        alone = model(a)
        batched = model(torch.cat([a, b]))
    # batch statistics would couple the two images; running statistics do not
    assert torch.allclose(alone, batched[:1], atol=1e-6)


def test_training_a_batch_of_one_is_a_clear_error():
    model = DAT(**TINY).train()
    with pytest.raises(swinsr.errors.OptionError, match="batch_size_per_gpu"):
        model(torch.rand(1, 3, 8, 8))


def test_trains_and_resumes_from_official_option_file(tmp_path):
    """DAT's official option format (model_type DATModel, ``task``, ``io_backend``, ``use_chop``) trains and resumes."""
    opt = yaml.safe_load((REPO / "options" / "train" / "train_DAT_light_x4.yml").read_text())
    data = make_images(tmp_path / "hr", n=3, size=32)
    opt["name"] = "dat_tiny"
    opt["scale"] = 2
    opt["num_gpu"] = 0
    opt["network_g"] = {"type": "DAT", **TINY}
    train = opt["datasets"]["train"]
    train.update(task="SR", dataroot_gt=str(data), gt_size=16, batch_size_per_gpu=2, num_worker_per_gpu=0)
    del opt["datasets"]["val"]
    opt["val"]["use_chop"] = False
    opt["train"].update(total_iter=2, scheduler={"type": "MultiStepLR", "milestones": [3], "gamma": 0.5})
    opt["logger"].update(print_freq=1, save_checkpoint_freq=2, use_tb_logger=False)
    path = tmp_path / "train_DAT_tiny.yml"
    path.write_text(yaml.safe_dump(opt))
    first = swinsr.train.train_pipeline(path, root=tmp_path)
    assert [it for it, _ in first.losses] == [1, 2]
    opt["train"]["total_iter"] = 4
    path.write_text(yaml.safe_dump(opt))
    resumed = swinsr.train.train_pipeline(path, root=tmp_path, auto_resume=True)
    assert resumed.resumed_from == 2 and [it for it, _ in resumed.losses] == [3, 4]
    assert all(torch.isfinite(torch.tensor(v["l_pix"])) for _, v in resumed.losses)
    ckpt = tmp_path / "experiments" / "dat_tiny" / "models" / "net_g_latest.pth"
    model = swinsr.load_model(ckpt)
    assert isinstance(model, DAT)
    # BatchNorm statistics were updated by training and travel with the weights
    bn = model.layers[0].blocks[0].attn.dwconv[1]
    assert int(bn.num_batches_tracked) == 4 and not torch.equal(bn.running_var, torch.ones_like(bn.running_var))


def test_onnx_export_keeps_dynamic_height_and_width(tmp_path):
    """Internal padding, rolls and the four mask groups all follow the input size in the exported graph."""
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is a test extra: pip install onnxruntime")
    from swinsr.export import export_onnx

    torch.manual_seed(0)
    model = DAT(**dict(TINY, depth=[3], num_heads=[2])).eval()  # block 2 is shifted
    _randomise_batchnorm(model)
    session = ort.InferenceSession(str(export_onnx(model, tmp_path / "dat.onnx")))
    for h, w in ((8, 12), (16, 8), (9, 13)):  # DAT pads internally: any size, not only multiples
        x = torch.rand(1, 3, h, w)
        with torch.no_grad():
            want = model(x).numpy()
        got = session.run(None, {"input": x.numpy()})[0]
        assert got.shape == want.shape and abs(got - want).max() < 1e-4
