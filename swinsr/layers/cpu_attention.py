"""Window attention on the CPU through swinsr's own kernel (``kernels/window_attention.cpp``).

Swin windows are small (64 tokens for window 8) and their heads narrow (10 channels in
SwinIR-S, 30 in SwinIR-M). At those shapes the fused CPU kernel of
``scaled_dot_product_attention`` runs far below the machine's peak, so attention was about
half of the fast path's inference time on an AVX2 CPU. The kernel here does one
(window, head) pair start to finish in L1 (scores, bias + mask, softmax, both products), in
forward and backward, including the gradient of the additive mask (= the position bias).

The kernel is compiled on first use for the CPU it runs on and cached (:mod:`.native`), linked
against PyTorch's OpenMP runtime; where none is found, windows are split over Python threads
instead (ctypes releases the GIL). Without a compiler, with ``SWINSR_CPU_KERNEL=0``, or under
tracing / ``torch.compile`` / export, attention stays on ``scaled_dot_product_attention``: the
kernel only ever changes speed, never availability.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from . import native
from .fastpath import caching_allowed

_SOURCE = Path(__file__).with_name("kernels") / "window_attention.cpp"
#: Below this many (window, head) pairs a call is not split across threads.
_MIN_PAIRS_PER_THREAD = 64

_lock = threading.Lock()
_state: dict = {"lib": None, "tried": False, "error": None, "path": None, "pool": None, "pool_size": 0}
#: None: follow $SWINSR_CPU_KERNEL (default on); True / False: forced by :func:`cpu_kernel`.
_forced: bool | None = None


#: where compiled kernels are cached; the OpenMP runtime the kernel links against (PyTorch's).
#: Module attributes so a test can replace the runtime lookup in a fresh process.
cache_dir = native.cache_dir
_openmp_runtime = native.openmp_runtime
_isa_flags = native.isa_flags


def _declare(lib: ctypes.CDLL) -> None:
    p, i, d, n = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double, ctypes.c_int
    for name in ("swinsr_wattn_forward_f32", "swinsr_wattn_forward_f64"):
        getattr(lib, name).argtypes = [p, p, p, p, p, d, p, p, i, i, i, i, i, i, n]
        getattr(lib, name).restype = None
    for name in ("swinsr_wattn_backward_f32", "swinsr_wattn_backward_f64"):
        getattr(lib, name).argtypes = [p, p, p, p, p, d, p, p, p, p, p, p, p, i, i, i, i, i, i, n]
        getattr(lib, name).restype = None
    lib.swinsr_wattn_lanes.restype = ctypes.c_int
    lib.swinsr_wattn_openmp.restype = ctypes.c_int


def _library() -> ctypes.CDLL | None:
    """The loaded kernel, compiling it on first use; ``None`` when it cannot be built."""
    # the runtime is looked up through this module at call time (a test replaces it)
    return native.load_once(_state, _lock, _SOURCE, _declare, lambda: _openmp_runtime(),
                            "using scaled_dot_product_attention")


def kernel_enabled() -> bool:
    """Whether window attention on the CPU may use the kernel (``SWINSR_CPU_KERNEL``, :func:`cpu_kernel`)."""
    if _forced is not None:
        return _forced
    return os.environ.get("SWINSR_CPU_KERNEL", "1").strip().lower() not in ("0", "false", "no", "off")


def kernel_status() -> str:
    """One line for benchmarks: whether the kernel is used, and if not, why."""
    if not kernel_enabled():
        return "off (SWINSR_CPU_KERNEL=0 or cpu_kernel(False))"
    lib = _library()
    if lib is None:
        return f"unavailable ({_state['error']})"
    threads = "OpenMP (torch's pool)" if lib.swinsr_wattn_openmp() else "Python threads"
    return f"on ({lib.swinsr_wattn_lanes() * 32}-bit vectors, {' '.join(_isa_flags()) or 'baseline ISA'}, {threads})"


@contextlib.contextmanager
def cpu_kernel(enabled: bool | None = True) -> Iterator[None]:
    """Context manager: use the kernel (``True``), never (``False``) or as configured (``None``)."""
    global _forced
    previous, _forced = _forced, enabled
    try:
        yield
    finally:
        _forced = previous


def _graph_capture() -> bool:
    """Tracing, scripting, ``torch.compile`` or export: the graph must see SDPA, not a ctypes call."""
    onnx = getattr(torch, "onnx", None)
    return not caching_allowed() or bool(onnx is not None and getattr(onnx, "is_in_onnx_export", lambda: False)())


def usable(qkv: torch.Tensor, masks: torch.Tensor | None, dropout_p: float) -> bool:
    """Whether :func:`attend` can take this call (otherwise use SDPA).

    ``qkv``: CPU float32/float64 projections ``(B, W, N, 3, H, D)`` with contiguous channels;
    ``masks``: ``None`` or ``(G, H, N, N)`` (one mask per window group); no attention dropout;
    no graph capture.
    """
    if dropout_p or qkv.device.type != "cpu" or qkv.dtype not in (torch.float32, torch.float64):
        return False
    if qkv.dim() != 6 or qkv.shape[3] != 3 or qkv.stride(-1) != 1:
        return False
    if masks is not None:
        _, _, n, _, h, _ = qkv.shape
        if masks.dim() != 4 or masks.shape[1:] != (h, n, n) or masks.dtype != qkv.dtype or masks.device != qkv.device:
            return False
    if not kernel_enabled() or _graph_capture():
        return False
    return _library() is not None


def _pool(workers: int) -> ThreadPoolExecutor:
    if _state["pool"] is None or _state["pool_size"] != workers:
        if _state["pool"] is not None:
            _state["pool"].shutdown(wait=False)
        _state.update(pool=ThreadPoolExecutor(max_workers=workers, thread_name_prefix="swinsr-wattn"), pool_size=workers)
    return _state["pool"]


def _drop_pool_after_fork() -> None:
    # worker threads do not survive fork(); a child (a DataLoader worker) builds its own pool
    _state.update(pool=None, pool_size=0)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_drop_pool_after_fork)


def _threads_for(windows: int, heads: int) -> int:
    return max(1, min(torch.get_num_threads(), windows, windows * heads // _MIN_PAIRS_PER_THREAD))


def _run_split(lib: ctypes.CDLL, call, windows: int, threads: int) -> None:
    """Run ``call(w0, w1, slot, threads)`` over windows ``[0, windows)`` on ``threads`` threads.

    With an OpenMP build one call splits the windows over torch's own pool (the kernel gives
    thread t accumulator slot t); otherwise ranges go to a Python thread pool (ctypes releases
    the GIL), one range and one slot each.
    """
    if threads == 1 or lib.swinsr_wattn_openmp():
        call(0, windows, 0, threads)
        return
    bounds = [windows * c // threads for c in range(threads + 1)]
    pool = _pool(threads)
    futures = [pool.submit(call, bounds[c], bounds[c + 1], c, 1) for c in range(1, threads)]
    call(bounds[0], bounds[1], 0, 1)
    for future in futures:
        future.result()


def qkv_views(qkv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k, v of ``(B, W, N, 3, H, D)`` projections as ``(B, W, H, N, D)`` views."""
    q, k, v = qkv.permute(3, 0, 1, 4, 2, 5).unbind(0)
    return q, k, v


def _layout(wg: int, operands, out: torch.Tensor, grads=()) -> torch.Tensor:
    """The kernel's stride array (see the layout comment in ``kernels/window_attention.cpp``)."""
    values = [wg]
    for t in operands:
        values += t.stride()[:4]
    values += [0, out.stride(0), out.stride(1)]  # masks are shared by the windows of a group
    for t in grads:
        values += t.stride()[:4]
    return torch.tensor(values, dtype=torch.int64)


def _at(t: torch.Tensor | None, start: int) -> int | None:
    """Address of window ``start`` of a ``(B, W, ...)`` operand."""
    if t is None:
        return None
    return t.data_ptr() + start * t.stride(1) * t.element_size()


def _transposed_masks(masks: torch.Tensor | None, np_: int) -> torch.Tensor | None:
    """``(G, H, N, N)`` masks as ``(G, H, N, Np)`` key-major, the queries zero-padded to ``Np``."""
    if masks is None:
        return None
    g, h, n, _ = masks.shape
    with torch.no_grad():
        masks_t = masks.new_zeros(g, h, n, np_)
        masks_t[..., :n] = masks.transpose(-1, -2)
    return masks_t


def _padded(n: int, lib: ctypes.CDLL) -> int:
    lanes = lib.swinsr_wattn_lanes()
    return -(-n // lanes) * lanes


def _suffix(dtype: torch.dtype) -> str:
    return "f32" if dtype == torch.float32 else "f64"


def _forward(q, k, v, masks_t, groups, scale: float, need_lse: bool):
    lib = _library()
    forward_fn = getattr(lib, f"swinsr_wattn_forward_{_suffix(q.dtype)}")
    b, w, h, n, d = q.shape
    np_ = _padded(n, lib)
    out = torch.empty((b, w, n, h * d), dtype=q.dtype)
    lses = []
    for start, count, g in groups:
        layout = _layout(count, (q, k, v), out)
        lse = torch.empty((b * count, h, n), dtype=q.dtype) if need_lse else None
        mask_ptr = None if masks_t is None else masks_t[g].data_ptr()
        args = (_at(q, start), _at(k, start), _at(v, start), layout.data_ptr(), mask_ptr, scale, _at(out, start))

        def call(w0, w1, _slot, threads, args=args, lse=lse):
            forward_fn(*args, None if lse is None else lse.data_ptr(), h, n, d, np_, w0, w1, threads)

        _run_split(lib, call, b * count, _threads_for(b * count, h))
        lses.append(lse)
    return out, lses


class _GridAttention(torch.autograd.Function):
    """Attention over window groups; inputs ``(qkv, q or None, k or None, masks or None)``."""

    @staticmethod
    def forward(ctx, qkv, q_in, k_in, masks, groups, scale):  # type: ignore[override]
        q, k, v = qkv_views(qkv)
        q = q if q_in is None else q_in
        k = k if k_in is None else k_in
        masks_t = _transposed_masks(masks, _padded(q.shape[3], _library()))
        out, lses = _forward(q, k, v, masks_t, groups, scale, need_lse=True)
        ctx.groups, ctx.scale = groups, scale
        ctx.overridden = (q_in is not None, k_in is not None)
        ctx.has_masks = masks is not None
        ctx.save_for_backward(qkv, q_in, k_in, masks_t, out, *lses)
        return out

    @staticmethod
    def backward(ctx, d_out):  # type: ignore[override]
        qkv, q_in, k_in, masks_t, out, *lses = ctx.saved_tensors
        lib = _library()
        backward_fn = getattr(lib, f"swinsr_wattn_backward_{_suffix(qkv.dtype)}")
        q, k, v = qkv_views(qkv)
        q = q if q_in is None else q_in
        k = k if k_in is None else k_in
        b, w, h, n, d = q.shape
        np_ = _padded(n, lib)
        d_out = d_out.contiguous()  # the layout of `out`, which the kernel's output strides describe
        # gradients land directly in the packed layout of the qkv projection: no stack / permute copies
        d_qkv = torch.empty_like(qkv, memory_format=torch.contiguous_format)
        dq, dk, dv = qkv_views(d_qkv)
        dq_in = torch.empty_like(q_in) if q_in is not None else None
        dk_in = torch.empty_like(k_in) if k_in is not None else None
        if dq_in is not None:
            dq.zero_()  # the q part of qkv did not reach the attention directly
        if dk_in is not None:
            dk.zero_()
        dq_target = dq if dq_in is None else dq_in
        dk_target = dk if dk_in is None else dk_in
        want_masks = ctx.has_masks and ctx.needs_input_grad[3]
        d_masks = torch.zeros_like(masks_t) if want_masks else None
        for (start, count, g), lse in zip(ctx.groups, lses):
            layout = _layout(count, (q, k, v), out, (dq_target, dk_target, dv))
            threads = _threads_for(b * count, h)
            slots = torch.zeros((threads, h, n, np_), dtype=q.dtype) if want_masks else None
            mask_ptr = None if masks_t is None else masks_t[g].data_ptr()
            args = (_at(q, start), _at(k, start), _at(v, start), layout.data_ptr(), mask_ptr, ctx.scale,
                    _at(out, start), _at(d_out, start), lse.data_ptr(),
                    _at(dq_target, start), _at(dk_target, start), _at(dv, start))

            def call(w0, w1, slot, threads, args=args, slots=slots):
                backward_fn(*args, None if slots is None else slots[slot].data_ptr(), h, n, d, np_, w0, w1, threads)

            _run_split(lib, call, b * count, threads)
            if want_masks:
                d_masks[g] += slots.sum(0)
        d_mask = None
        if want_masks:
            d_mask = d_masks[..., :n].transpose(-1, -2).contiguous()
        return d_qkv, dq_in, dk_in, d_mask, None, None


def attend(
    qkv: torch.Tensor,
    masks: torch.Tensor | None,
    groups: list[tuple[int, int, int]],
    scale: float,
    q: torch.Tensor | None = None,
    k: torch.Tensor | None = None,
) -> torch.Tensor:
    """Window attention on ``(B, W, N, 3, H, D)`` projections -> ``(B, W, N, H * D)``.

    ``groups`` lists ``(first window, window count, mask index)``: each run of windows shares
    ``masks[mask index]`` (``(G, H, N, N)``, additive; ``None``: no mask). ``q`` / ``k``
    ``(B, W, H, N, D)`` replace the projections' own (Swin V2's normalised, scaled ones). The
    output is token-major (what the output projection reads) and the gradient of ``qkv`` comes
    back in its own packed layout, so no copies surround the kernel. Check :func:`usable` first.
    """
    q = q if q is None or q.stride(-1) == 1 else q.contiguous()
    k = k if k is None or k.stride(-1) == 1 else k.contiguous()
    tensors = (qkv, q, k, masks)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors):
        return _GridAttention.apply(qkv, q, k, masks, groups, scale)
    qv, kv, vv = qkv_views(qkv)
    q = qv if q is None else q
    k = kv if k is None else k
    return _forward(q, k, vv, _transposed_masks(masks, _padded(q.shape[3], _library())), groups, scale, False)[0]
