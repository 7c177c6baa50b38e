"""ONNX export (checked with onnxruntime) and the compile helper."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import swinsr
from swinsr.errors import OptionError
from swinsr.export import export_onnx

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is a test extra: pip install onnxruntime")


def _tiny(arch: str = "SwinIR", **kw) -> torch.nn.Module:
    base = dict(upscale=2, img_size=16, window_size=4, depths=[2], embed_dim=16, num_heads=[2], mlp_ratio=2,
                upsampler="pixelshuffledirect")
    base.update(kw)
    torch.manual_seed(0)
    return swinsr.build_model(arch, **base).eval()


def _check(path, model, shapes):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for shape in shapes:
        x = torch.rand(*shape)
        got = session.run(None, {"input": x.numpy()})[0]
        with torch.no_grad():
            want = model(x)
        assert got.shape == tuple(want.shape)
        assert np.abs(got - want.numpy()).max() <= 1e-3


def test_onnx_dynamic_batch_and_size_matches_pytorch(tmp_path):
    """One graph serves two batch sizes and two (non-square) sizes: masks are computed in the graph."""
    model = _tiny()
    path = export_onnx(model, tmp_path / "m.onnx")
    assert path.exists() and not list(tmp_path.glob(".*.tmp"))  # atomic: no temp file left behind
    _check(path, model, [(1, 3, 16, 24), (3, 3, 32, 20)])


def test_onnx_fixed_tile_cli(tmp_path):
    from swinsr.cli import main

    model = _tiny("Swin2SR")
    ckpt = swinsr.save_checkpoint(model, tmp_path / "m.safetensors")
    out = tmp_path / "sub" / "m.onnx"
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(ckpt), "-o", str(out), "--opset", "17", "--tile", "14"])
    assert exit_info.value.code in (0, None)
    _check(out, swinsr.load_model(ckpt), [(1, 3, 16, 16), (2, 3, 16, 16)])  # 14 rounds up to 16


def test_export_rejects_bad_options(tmp_path):
    model = _tiny()
    with pytest.raises(OptionError, match="opset"):
        export_onnx(model, tmp_path / "m.onnx", opset=13)
    with pytest.raises(OptionError, match="tile"):
        export_onnx(model, tmp_path / "m.onnx", tile=2)
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_compile_model_traces_fast_path_with_static_tile():
    """torch.compile sees the cache-free fast path (backend 'eager' keeps the test quick)."""
    from swinsr.export import compile_model

    model = _tiny()
    compiled = compile_model(model, 16, backend="eager")
    x = torch.rand(1, 3, 16, 16)
    with torch.inference_mode():
        assert torch.allclose(compiled(x), model(x), atol=1e-5)


def test_exporter_failure_is_one_line_error_and_nothing_is_written(tmp_path, monkeypatch, capsys):
    """An operator the exporter cannot convert: exit 1, one error line naming the model, no file left."""
    from torch.onnx.errors import UnsupportedOperatorError

    from swinsr.cli import main

    ckpt = swinsr.save_checkpoint(_tiny(), tmp_path / "m.safetensors")

    def failing_export(model, args, f, **kwargs):
        with open(f, "wb") as fh:  # a half-written temp file must not survive the failure
            fh.write(b"partial")
        raise UnsupportedOperatorError("aten::roll", kwargs["opset_version"], None)

    monkeypatch.setattr(torch.onnx, "export", failing_export)
    out = tmp_path / "new" / "deeper" / "m.onnx"
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(ckpt), "-o", str(out)])
    assert exit_info.value.code == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "Traceback" not in errors[0]
    assert str(ckpt) in errors[0] and "'aten::roll'" in errors[0]
    assert "--opset" in errors[0] and "--tile" in errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]  # no .onnx, temp file or new folders


def test_export_error_keeps_the_first_line_and_suggests_only_what_applies(tmp_path, monkeypatch):
    from swinsr.errors import ExportError

    def failing_export(*args, **kwargs):
        raise RuntimeError("\nFailed to export: unsupported shape arithmetic\n  long exporter\n  trace")

    monkeypatch.setattr(torch.onnx, "export", failing_export)
    with pytest.raises(ExportError) as info:
        export_onnx(_tiny(), tmp_path / "m.onnx", opset=20, tile=16)  # newest opset, fixed size already
    message = str(info.value)
    assert "\n" not in message and "unsupported shape arithmetic" in message and "trace" not in message
    assert "--opset" not in message and "--tile" not in message
    assert not any(tmp_path.iterdir())


def test_export_command_never_writes_over_its_input_or_an_existing_file(tmp_path, capsys):
    from swinsr.cli import main

    ckpt = tmp_path / "net.pth"
    swinsr.save_checkpoint(_tiny(), ckpt)
    before = ckpt.read_bytes()
    existing = tmp_path / "old.onnx"
    existing.write_bytes(b"an earlier export")
    for out, says in ((ckpt, "ending in .onnx"), (existing, "add --overwrite")):
        with pytest.raises(SystemExit) as exit_info:
            main(["export", str(ckpt), "-o", str(out)])
        assert exit_info.value.code != 0 and says in capsys.readouterr().err
    assert ckpt.read_bytes() == before and existing.read_bytes() == b"an earlier export"
