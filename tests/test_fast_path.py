"""The fast attention path equals the plain (reference-style) path; caches, autocast, benchmark."""

from __future__ import annotations

import json

import pytest
import torch

import swinsr
from swinsr.layers import SwinBlock, shifted_window_mask
from swinsr.layers.fastpath import fast_path_enabled, plain_path, set_fast_path
from swinsr.layers.windows import border_mask_patterns, cyclic_shift, window_gather_indices, window_partition, window_reverse


def _tiny(arch: str, **kw) -> torch.nn.Module:
    base = dict(upscale=2, img_size=16, window_size=4, depths=[2, 2], embed_dim=16, num_heads=[2, 4], mlp_ratio=2,
                upsampler="pixelshuffledirect")
    base.update(kw)
    return swinsr.build_model(arch, **base).eval()


def _both_paths(fn):
    fast = fn()
    with plain_path():
        assert not fast_path_enabled()
        plain = fn()
    assert fast_path_enabled()
    return fast, plain


def test_plain_path_switch_restores():
    with plain_path():
        assert not fast_path_enabled()
        assert set_fast_path(True) is False
        assert set_fast_path(False) is True
    assert fast_path_enabled()


@pytest.mark.parametrize("h,w,ws", [(16, 16, 4), (12, 20, 4), (4, 8, 4), (8, 4, 4), (24, 16, 8), (14, 21, 7)])
def test_border_patterns_match_every_window_mask(h, w, ws):
    """Only the last window row/column is masked, with one mask per group, for any map size."""
    shift = ws // 2
    full = shifted_window_mask(h, w, ws, shift).view(h // ws, w // ws, ws * ws, ws * ws)
    right, bottom, corner = border_mask_patterns(ws, shift)
    assert torch.all(full[:-1, :-1] == 0)
    assert torch.equal(full[:-1, -1], right.expand_as(full[:-1, -1]))
    assert torch.equal(full[-1, :-1], bottom.expand_as(full[-1, :-1]))
    assert torch.equal(full[-1, -1], corner)


@pytest.mark.parametrize("shift", [0, 2])
def test_gather_indices_equal_roll_and_partition(shift):
    x = torch.randn(2, 12, 16, 5)
    order, inverse = window_gather_indices(12, 16, 4, shift, crop=(10, 13))
    windows = x.reshape(2, -1, 5).index_select(1, order).view(2, -1, 16, 5)
    assert torch.equal(windows, window_partition(cyclic_shift(x, shift), 4))
    back = windows.view(2, -1, 5).index_select(1, inverse).view(2, 10, 13, 5)
    assert torch.equal(back, cyclic_shift(window_reverse(windows, 4, 12, 16), -shift)[:, :10, :13])


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("size", [(16, 16), (13, 22), (4, 4), (5, 12)])
@pytest.mark.parametrize("batch", [1, 3])
def test_block_fast_equals_plain(version, size, batch):
    blk = SwinBlock(16, 2, window_size=4, shift_size=2, version=version).eval()
    x = torch.randn(batch, size[0] * size[1], 16)
    with torch.no_grad():
        fast, plain = _both_paths(lambda: blk(x, size))
    assert (fast - plain).abs().max().item() <= 1e-5


@pytest.mark.parametrize("arch,up", [("SwinIR", "pixelshuffledirect"), ("SwinIR", "pixelshuffle"),
                                     ("Swin2SR", "pixelshuffle_aux"), ("SwinIR", "")])
def test_model_fast_equals_plain(arch, up):
    model = _tiny(arch, upsampler=up)
    x = torch.rand(2, 3, 19, 26)
    with torch.inference_mode():
        fast, plain = _both_paths(lambda: model(x))
    fast = fast if isinstance(fast, tuple) else (fast,)
    plain = plain if isinstance(plain, tuple) else (plain,)
    for a, b in zip(fast, plain):
        assert a.shape == b.shape and a.is_contiguous()
        assert (a - b).abs().max().item() <= 1e-4


@pytest.mark.parametrize("version", [1, 2])
def test_gradients_equal_plain(version):
    blk = SwinBlock(8, 2, window_size=4, shift_size=2, version=version).train()
    x = torch.randn(2, 8 * 12, 8)

    def grads():
        blk.zero_grad()
        blk(x, (8, 12)).square().sum().backward()
        return {n: p.grad.clone() for n, p in blk.named_parameters()}

    fast, plain = _both_paths(grads)
    for name in fast:
        # float32 rounding relative to each gradient's scale (the V2 ones reach ~250)
        scale = plain[name].abs().max().item()
        assert (fast[name] - plain[name]).abs().max().item() <= 1e-5 * max(scale, 1.0), name


def test_training_after_an_inference_mode_forward_of_the_same_size():
    # the shared window caches must not hold inference tensors: index_select saves its index
    model = _tiny("SwinIR", upscale=2, drop_path_rate=0.0)
    x = torch.rand(2, 3, 20, 28)  # a size no other test uses, so the caches are built here
    with torch.inference_mode():
        expected = model(x)
    model.train()
    out = model(x)
    out.mean().backward()
    assert torch.allclose(out, expected, atol=1e-5)
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("version", [1, 2])
def test_bias_cache_reused_in_eval_and_invalidated_by_weight_changes(version):
    blk = SwinBlock(8, 2, window_size=4, shift_size=2, version=version).eval()
    x = torch.randn(1, 64, 8)
    with torch.no_grad():
        y0 = blk(x, (8, 8))
        cached = blk.attn._mask_cache[1]
        blk(x, (8, 8))
        assert blk.attn._mask_cache[1] is cached  # the V2 CPB MLP did not run again
        table = blk.attn.relative_position_bias_table if version == 1 else blk.attn.cpb_mlp[0].bias
        table.add_(0.5)  # in-place edit, like an optimizer step
        y1 = blk(x, (8, 8))
    assert blk.attn._mask_cache[1] is not cached
    with plain_path(), torch.no_grad():
        assert torch.allclose(y1, blk(x, (8, 8)), atol=1e-5)
    assert not torch.allclose(y0, y1)
    blk.train()
    blk(x, (8, 8))
    assert blk.attn._cache_key(2, x.device, x.dtype) is None  # training never uses the cache


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_keeps_residual_stream_fp32_and_finite(dtype):
    """Half precision only inside linear/attention: norms and the residual stream stay fp32."""
    model = _tiny("Swin2SR", upsampler="pixelshuffledirect")
    x = torch.rand(1, 3, 16, 16)
    seen = []
    hook = model.layers[0].residual_group.blocks[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    with torch.inference_mode():
        ref = model(x)
        with torch.autocast("cpu", dtype=dtype):
            out = model(x)
    hook.remove()
    assert seen[-1] == torch.float32
    assert torch.isfinite(out).all()
    assert (out.float() - ref).abs().max().item() < 0.05


def test_bench_speed_cli_runs_and_reports(tmp_path):
    from swinsr.cli import main
    from swinsr.archs import get_family
    from swinsr.speed import PRESETS, build_preset

    # every family declares its released configurations; bench-speed offers them all
    assert {"swinir-s-x4", "swinir-m-x4", "swin2sr-s-x4", "hat-s-x4", "drct-x4", "dat-light-x4"} <= set(PRESETS)
    assert all(PRESETS[name][0] == get_family(name.split("-")[0]).type_name for name in PRESETS)
    assert sum(p.numel() for p in build_preset("swinir-s-x4").parameters()) > 800_000  # the real SwinIR-S size
    out = tmp_path / "speed.json"
    with pytest.raises(SystemExit) as exit_info:
        main(["bench-speed", "--sizes", "16", "--rounds", "1", "--modes", "eager,plain", "--json", str(out)])
    assert exit_info.value.code in (0, None)
    report = json.loads(out.read_text())
    assert "torch" in report["machine"] and report["threads"] >= 1
    rows = report["rows"]
    assert [r["mode"] for r in rows] == ["eager", "plain"]
    assert all(r["seconds"] > 0 and r["out_mpix_per_s"] > 0 for r in rows)
    assert all(r["peak_mb"] > 0 for r in rows)  # measured in a fresh process per row
    assert rows[1]["max_abs_diff"] <= 1e-4


def _tiny_model(arch: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if arch == "HAT":
        return swinsr.build_model("HAT", upscale=2, img_size=16, window_size=4, embed_dim=12, depths=[2], num_heads=[2],
                                  mlp_ratio=2, compress_ratio=3, squeeze_factor=6, upsampler="pixelshuffle").eval()
    if arch == "DAT":
        return swinsr.build_model("DAT", img_size=16, embed_dim=16, split_size=[2, 4], depth=[2], num_heads=[2],
                                  expansion_factor=2, upscale=2, upsampler="pixelshuffledirect").eval()
    return _tiny(arch, upsampler="pixelshuffle", embed_dim=64, num_heads=[2, 2])


@pytest.mark.parametrize("arch", ["SwinIR", "Swin2SR", "HAT", "DAT"])
def test_weights_written_through_data_reach_the_cached_fast_path(arch):
    """BasicSR's EMA writes ``p.data`` (no version bump): packed linears, Winograd and bias caches must see it."""
    model = _tiny_model(arch)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        before = model(x)
        model(x)  # caches filled and reused
        for p in model.parameters():
            p.data.mul_(0.9).add_(torch.randn_like(p), alpha=0.02)
        after = model(x)
        with plain_path():
            want = model(x)
    assert not torch.allclose(before, want, atol=1e-4)
    assert (after - want).abs().max().item() <= 1e-5
