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
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import torch
import torch.nn as nn

_fast_path = True
_T = TypeVar("_T")

#: Memory-lean inference (see :func:`lean_inference`): maps of at least ``min_tokens`` tokens per
#: image run each Swin block ``chunk_tokens`` at a time. 65,536 = a 256 x 256 map: a 128 x 128 input
#: keeps the one-call path, a 256-pixel tile plus its overlap is chunked.
_lean = {"min_tokens": 65536, "chunk_tokens": 8192}


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


def lean_settings() -> tuple[int, int]:
    """``(min_tokens, chunk_tokens)`` of memory-lean inference (``min_tokens`` 0 = always)."""
    return _lean["min_tokens"], _lean["chunk_tokens"]


@contextlib.contextmanager
def lean_inference(min_tokens: int | None = None, chunk_tokens: int | None = None) -> Iterator[None]:
    """Context manager: change when and in what pieces Swin blocks run memory-lean.

    Without gradients, a Swin block on a large map works window chunk by window chunk (gather,
    norm, attention, projection, added into the output in place) and then MLP token chunk by
    token chunk, so besides its input and output it holds only one chunk's projections instead
    of several full-map tensors: a 328 x 328 tile of a 48-wide model peaks at about 2 feature maps
    per block instead of 8. ``min_tokens=0`` makes every map lean (tests); a huge value disables it.
    """
    previous = dict(_lean)
    if min_tokens is not None:
        _lean["min_tokens"] = int(min_tokens)
    if chunk_tokens is not None:
        if chunk_tokens < 1:
            raise ValueError(f"chunk_tokens must be positive, got {chunk_tokens}")
        _lean["chunk_tokens"] = int(chunk_tokens)
    try:
        yield
    finally:
        _lean.update(previous)


def caching_allowed() -> bool:
    """Per-module caches (and swinsr's own CPU kernels) are skipped while tracing, compiling or
    exporting, and under a ``TorchDispatchMode``.

    Graph capture must see the computation itself (so the exported/compiled graph recomputes
    or constant-folds it), not a Python-side tensor cache. A dispatch mode (``FlopCounterMode``,
    fake tensors, debugging modes) must see PyTorch's standard ops: a ctypes kernel or a
    ``torch.bmm`` standing in for a convolution would be invisible or miscounted there.
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
    # after the compiler checks: under torch.compile those already answered
    dispatch_modes = getattr(torch._C, "_len_torch_dispatch_stack", None)
    if dispatch_modes is not None and dispatch_modes() > 0:
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


_SAME_SIZE_INT = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def content_fingerprint(t: torch.Tensor, samples: int = 64) -> int | None:
    """The exact integer sum of the bit patterns of ``samples`` evenly spaced elements of ``t``
    (and its last one); CPU tensors only (None elsewhere).

    Why: a write through ``.data`` (``p.data.copy_(...)``, the EMA update of BasicSR's
    ``model_ema``, ``p.data.mul_(...)``) does not bump the tensor's version counter, so a cache
    keyed on the version alone would keep serving values derived from the old weights. Every
    write that touches the whole tensor changes the sampled elements; an edit of a few elements
    that misses all of them still goes unseen (edit weights under ``torch.no_grad()`` instead).
    A sample, not the whole tensor: about 8 us per lookup, where summing all of a 180 x 540
    weight took 45 us, 1-3% of a small tile's forward. On CUDA a lookup would cost a device
    sync, so there only the version counter counts.
    """
    if t.device.type != "cpu" or t.is_sparse or t.element_size() not in _SAME_SIZE_INT or t.numel() == 0:
        return None
    flat = t.detach().reshape(-1).view(_SAME_SIZE_INT[t.element_size()])
    picked = flat[:: max(1, flat.numel() // samples)]
    return int(picked.sum(dtype=torch.int64)) + int(flat[-1])


def tensor_versions(sources: Sequence[torch.Tensor]) -> tuple | None:
    """What a cache of values derived from ``sources`` is keyed on: storage, in-place version and
    content fingerprint, shape, dtype and device of each; None for inference tensors (no version counter)."""
    try:
        return tuple((t.data_ptr(), t._version, content_fingerprint(t), tuple(t.shape), t.dtype, t.device) for t in sources)
    except RuntimeError:
        return None


def derived_cached(owner: nn.Module, name: str, sources: Sequence[torch.Tensor], build: Callable[[], _T]) -> _T:
    """``build()`` (a tensor derived from ``sources``, e.g. a repacked weight), cached on ``owner`` under ``name``.

    The entry is reused while the sources are the same tensor objects with the same storage and
    in-place version (an optimizer step, ``load_state_dict``, ``.to()`` or assigning a new
    parameter all invalidate it; the entry holds the sources, so a freed tensor's address cannot
    be mistaken for its successor), and on the CPU the same content (:func:`content_fingerprint`:
    writes through ``.data`` bypass the version counter; on CUDA they are not seen, change weights
    under ``torch.no_grad()`` there). Inference tensors (made under ``torch.inference_mode``) have
    no version counter and are never cached.
    ``build`` runs without autograd and outside inference mode, so its result is a normal tensor.
    """
    sources = tuple(sources)
    key = tensor_versions(sources)
    cache = owner.__dict__.setdefault("_derived_cache", {})
    hit = cache.get(name)
    if key is not None and hit is not None and hit[0] == key and all(a is b for a, b in zip(hit[1], sources)):
        return hit[2]
    with torch.inference_mode(False), torch.no_grad():
        value = build()
    if key is not None:
        cache[name] = (key, sources, value)
    return value


def cached_value(owner: nn.Module, name: str) -> object | None:
    """What :func:`derived_cached` holds for ``owner`` under ``name`` (None when nothing), for tests and debugging."""
    hit = owner.__dict__.get("_derived_cache", {}).get(name)
    return None if hit is None else hit[2]
