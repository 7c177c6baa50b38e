"""Deployment helpers: ``torch.compile`` with static tile shapes, and ONNX export.

Both capture the fast attention path. Inside a captured graph the per-module caches are
bypassed (see :func:`swinsr.layers.fastpath.caching_allowed`): the position bias, the four
shift masks and the window gather indices become part of the graph, so an exported model
computes them itself for whatever height and width it is given.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .checkpoint import _atomic_write
from .errors import ExportError, OptionError, SwinSRError

TORCHSCRIPT_MAX_OPSET = 20
"""The newest opset torch's TorchScript exporter (the one used here) emits."""


def compile_model(
    model: nn.Module, tile: int | None = None, *, mode: str | None = None, batch: int = 1, **compile_kwargs: Any
) -> nn.Module:
    """``torch.compile`` a model for fixed-size tiles (static shapes: no per-image recompiles).

    ``dynamic=False`` makes each distinct input shape compile once and then run the specialised
    graph; feed it equally sized tiles (what :class:`swinsr.Upscaler` does with a fixed ``tile``)
    and it compiles once (twice with a padded last batch). When ``tile`` is given the graph is
    compiled right away on a ``(batch, C, tile, tile)`` input so the first real call is fast.
    ``mode`` is passed to ``torch.compile`` (e.g. ``"max-autotune"`` on CUDA).
    """
    compiled = torch.compile(model, dynamic=False, mode=mode, **compile_kwargs)
    if tile is not None:
        param = next(model.parameters())
        channels = int(model.in_chans)
        with torch.inference_mode():
            compiled(torch.rand(batch, channels, tile, tile, device=param.device, dtype=param.dtype))
    return compiled


def _window_multiple(model: nn.Module) -> int:
    """The input multiple the model pads to (its contract's ``size_multiple``)."""
    return int(getattr(model, "size_multiple", 1) or 1)


def _first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (exporter errors run to pages)."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return "no message"


def export_failure(exc: Exception, *, opset: int, dynamic_size: bool) -> ExportError:
    """One-line :class:`ExportError` for an exporter failure, with the options worth trying.

    Unsupported operators may have a conversion in a newer opset, and both they and symbolic
    shape failures often come from the dynamic height/width, which a fixed ``--tile`` avoids.
    """
    from torch.onnx.errors import UnsupportedOperatorError

    text = str(exc).lower()
    unsupported = isinstance(exc, UnsupportedOperatorError) or "not supported" in text or "unsupported" in text
    shapes = any(word in text for word in ("dynamic", "symbolic", "shape"))
    hints = []
    if unsupported and opset < TORCHSCRIPT_MAX_OPSET:
        hints.append(f"a newer --opset (up to {TORCHSCRIPT_MAX_OPSET})")
    if dynamic_size and (unsupported or shapes):
        hints.append("--tile N (a fixed input size)")
    hint = f"; try {' or '.join(hints)}" if hints else ""
    return ExportError(f"ONNX export failed ({type(exc).__name__}): {_first_line(exc)}{hint}; nothing was written")


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    opset: int = 17,
    tile: int | None = None,
    dynamic_size: bool = True,
    example_size: int | None = None,
) -> Path:
    """Export an SR/restoration model to ONNX, written atomically (temp file + rename).

    The graph always takes a dynamic batch. With ``dynamic_size`` (the default, ``tile=None``)
    height and width are dynamic too: any multiples of the model's window size with at least
    two windows per side (pad other sizes before feeding them, e.g. reflect-pad as
    :meth:`SwinIR.pad_to_window` does; the shift masks and window gather indices are computed
    inside the graph). With ``tile`` the graph is fixed to ``tile x tile`` inputs (rounded up
    to a window multiple), which some runtimes optimise better.

    Input ``input`` ``(N, C, H, W)`` float32 in [0, 1]; output ``output`` ``(N, C, sH, sW)``
    (plus ``aux`` for Swin2SR's ``pixelshuffle_aux`` head).

    Raises :class:`~swinsr.errors.ExportError` (one line: the exporter's first message line and
    what to try) when the exporter fails; then neither the file nor a temp file is left, nor
    the parent folders this call would have created.
    """
    path = Path(path)
    if opset < 17:
        raise OptionError(f"--opset {opset}: ONNX export needs opset 17 or newer (LayerNormalization)")
    from .archs.contract import model_contract

    contract = model_contract(model)
    ws = _window_multiple(contract)
    model = model.eval().float().cpu()
    channels = int(contract.in_chans)
    if tile is not None:
        if tile < ws:
            raise OptionError(f"--tile {tile}: must be at least the window size {ws}")
        side = -(-tile // ws) * ws
        dynamic_size = False
    else:
        side = example_size or 4 * ws
    example = torch.rand(2, channels, side, side)
    outputs = ["output", "aux"] if contract.has_aux else ["output"]
    axes: dict[str, dict[int, str]] = {}
    for name in ["input", *outputs]:
        axes[name] = {0: "batch"}
        if dynamic_size:
            axes[name].update({2: "height" if name == "input" else f"{name}_height", 3: "width" if name == "input" else f"{name}_width"})

    def write(tmp: str) -> None:
        # The TorchScript tracer records the shape arithmetic (window counts, gather indices,
        # group slices) as graph ops, so one graph serves every size; it exports in about a
        # minute, where the dynamo exporter's symbolic-shape reasoning took far longer here.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                torch.onnx.export(
                    model,
                    (example,),
                    tmp,
                    dynamo=False,
                    input_names=["input"],
                    output_names=outputs,
                    dynamic_axes=axes,
                    opset_version=opset,
                )
            except SwinSRError:
                raise
            except Exception as exc:  # the exporter raises RuntimeError, OnnxExporterError, TypeError ...
                raise export_failure(exc, opset=opset, dynamic_size=dynamic_size) from exc

    # folders _atomic_write creates, innermost first: removed again if the export fails
    created = [p for p in [path.parent, *path.parent.parents] if not p.exists()]
    try:
        _atomic_write(path, write)  # temp file + rename: a failure leaves no partial .onnx
    except BaseException as exc:
        for folder in created:
            try:
                folder.rmdir()
            except OSError:
                break
        if isinstance(exc, OSError):
            raise OptionError(f"{path}: cannot write the ONNX file ({exc.strerror or exc})") from exc
        raise
    return path
