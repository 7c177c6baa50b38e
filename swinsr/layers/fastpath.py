"""Run-time switch between the fast attention path and the plain (reference-style) path.

The fast path (default) folds the position bias and the shift mask into one additive mask for
``F.scaled_dot_product_attention``, caches what does not change between forwards, and splits
shifted windows into four groups that each share one mask. The plain path computes attention
the way the reference implementations do (explicit ``q @ k^T``, softmax, a per-window mask
rebuilt in every block, no caches). Both give the same outputs within float rounding; the plain
path exists so tests can prove that and benchmarks can time both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch

_fast_path = True
_T = TypeVar("_T")


def fast_path_enabled() -> bool:
    """Whether Swin blocks currently use the fast attention path."""
    return _fast_path


def set_fast_path(enabled: bool) -> bool:
    """Select the fast (``True``) or plain (``False``) path process-wide; returns the old value."""
    global _fast_path
    previous, _fast_path = _fast_path, bool(enabled)
    return previous


@contextlib.contextmanager
def plain_path() -> Iterator[None]:
    """Context manager: run Swin blocks the reference way (explicit attention, no caches)."""
    previous = set_fast_path(False)
    try:
        yield
    finally:
        set_fast_path(previous)


def caching_allowed() -> bool:
    """Per-module caches are skipped while tracing, compiling or exporting.

    Graph capture must see the computation itself (so the exported/compiled graph recomputes
    or constant-folds it), not a Python-side tensor cache.
    """
    if torch.jit.is_tracing() or torch.jit.is_scripting():
        return False
    compiler = getattr(torch, "compiler", None)
    if compiler is not None:
        if compiler.is_compiling():
            return False
        is_exporting = getattr(compiler, "is_exporting", None)
        if is_exporting is not None and is_exporting():
            return False
    return True


def shared_cached(factory: Callable[..., _T], *args: object) -> _T:
    """Call an ``lru_cache``-wrapped tensor factory the way every forward may share its result.

    Under graph capture (:func:`caching_allowed` false) the cache is bypassed, so the traced
    graph contains the computation itself. Otherwise the result is built outside inference
    mode: tensors made under ``torch.inference_mode`` are inference tensors, and a later
    training forward that saves one for backward (``index_select`` saves its index) would fail.
    """
    if not caching_allowed():
        return factory.__wrapped__(*args)  # type: ignore[attr-defined]
    with torch.inference_mode(False):
        return factory(*args)
