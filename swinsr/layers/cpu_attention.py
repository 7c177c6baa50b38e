"""Window attention on the CPU through swinsr's own kernel (``kernels/window_attention.cpp``).

Swin windows are small (64 tokens for window 8) and their heads narrow (10 channels in
SwinIR-S, 30 in SwinIR-M). At those shapes the fused CPU kernel of
``scaled_dot_product_attention`` runs far below the machine's peak, so attention was about
half of the fast path's inference time on an AVX2 CPU. The kernel here does one
(window, head) pair start to finish in L1 (scores, bias + mask, softmax, both products), in
forward and backward, including the gradient of the additive mask (= the position bias).

The kernel is plain C++ with no dependency on PyTorch's headers. On first use it is compiled
for the CPU it runs on (about two seconds, ``c++`` or ``$CXX``) into swinsr's cache directory
(``$SWINSR_CACHE_DIR``, else ``$XDG_CACHE_HOME/swinsr``, else ``~/.cache/swinsr``), keyed by a hash
of the source, the compiler and the flags, and loaded with :mod:`ctypes`; calls release the
GIL, so windows are split over ``torch.get_num_threads()`` Python threads. Without a compiler,
with ``SWINSR_CPU_KERNEL=0``, or under tracing / ``torch.compile`` / export, attention stays on
``scaled_dot_product_attention``: the kernel only ever changes speed, never availability.

Build flags follow the CPU capability PyTorch is told to use: with ``ATEN_CPU_CAPABILITY=avx2``
(how we emulate an AVX2-only CPU) the kernel is built for AVX2 + FMA as well, otherwise with
``-march=native``.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

log = logging.getLogger(__name__)

_SOURCE = Path(__file__).with_name("kernels") / "window_attention.cpp"
_MATH_FLAGS = ["-O3", "-std=c++17", "-fPIC", "-fno-math-errno", "-fno-trapping-math"]
#: Below this many (window, head) pairs a call is not split across threads.
_MIN_PAIRS_PER_THREAD = 64

_lock = threading.Lock()
_state: dict = {"lib": None, "tried": False, "error": None, "path": None, "pool": None, "pool_size": 0}
#: None: follow $SWINSR_CPU_KERNEL (default on); True / False: forced by :func:`cpu_kernel`.
_forced: bool | None = None


def cache_dir() -> Path:
    """Where compiled kernels are kept (``$SWINSR_CACHE_DIR``, ``$XDG_CACHE_HOME/swinsr`` or ``~/.cache/swinsr``)."""
    if os.environ.get("SWINSR_CACHE_DIR"):
        return Path(os.environ["SWINSR_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "swinsr"


def _isa_flags() -> list[str]:
    capability = os.environ.get("ATEN_CPU_CAPABILITY", "").lower()
    if capability == "avx2":
        return ["-mavx2", "-mfma"]
    if capability == "default":
        return []
    return ["-march=native"]


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CXX", "c++")) or shutil.which("g++") or shutil.which("clang++")


def _openmp_runtime() -> str | None:
    """The OpenMP runtime this process has loaded (PyTorch's), found in ``/proc/self/maps``."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for line in maps.splitlines():
        path = line.split()[-1] if line.split() else ""
        if re.search(r"/lib(g|i|)omp[0-9]*(-[0-9a-f]+)?\.so", path) and os.path.exists(path):
            return path
    return None


def _build(compiler: str, flags: list[str], openmp: str | None) -> Path:
    """Compile the kernel (once per source/compiler/flags/runtime) and return the shared library's path.

    With ``openmp`` (a runtime's path) the object is compiled with ``-fopenmp`` and linked
    against exactly that file, so the kernel's parallel regions use PyTorch's thread pool.
    """
    source = _SOURCE.read_bytes()
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=False).stdout
    key = hashlib.sha256(source + "\0".join([compiler, version, *flags, openmp or ""]).encode()).hexdigest()[:16]
    target_dir = cache_dir() / "kernels"
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError:
        target_dir = Path(tempfile.gettempdir()) / "swinsr-kernels"
        target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"window_attention-{key}.so"
    if target.exists():
        return target
    # build beside the target and rename: a concurrent process never loads a half-written file
    with tempfile.TemporaryDirectory(dir=target_dir) as tmp:
        obj, lib = os.path.join(tmp, "kernel.o"), os.path.join(tmp, "kernel.so")
        if openmp:
            steps = [[compiler, *flags, "-fopenmp", "-c", str(_SOURCE), "-o", obj],
                     [compiler, "-shared", obj, openmp, f"-Wl,-rpath,{os.path.dirname(openmp)}", "-o", lib]]
        else:
            steps = [[compiler, *flags, "-shared", str(_SOURCE), "-o", lib]]
        for step in steps:
            result = subprocess.run(step, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                lines = result.stderr.strip().splitlines()
                raise RuntimeError(lines[-1] if lines else f"{compiler} failed")
        os.replace(lib, target)
    return target


def _declare(lib: ctypes.CDLL) -> None:
    p, i, d, n = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double, ctypes.c_int
    for name in ("swinsr_wattn_forward_f32", "swinsr_wattn_forward_f64"):
        getattr(lib, name).argtypes = [p, p, p, p, p, d, p, p, i, i, i, i, i, i, n]
        getattr(lib, name).restype = None
    for name in ("swinsr_wattn_backward_f32", "swinsr_wattn_backward_f64"):
        getattr(lib, name).argtypes = [p, p, p, p, p, d, p, p, p, p, p, p, p, p, i, i, i, i, i, i, n]
        getattr(lib, name).restype = None
    lib.swinsr_wattn_lanes.restype = ctypes.c_int
    lib.swinsr_wattn_openmp.restype = ctypes.c_int


def _library() -> ctypes.CDLL | None:
    """The loaded kernel, compiling it on first use; ``None`` when it cannot be built."""
    if _state["tried"]:
        return _state["lib"]
    with _lock:
        if _state["tried"]:
            return _state["lib"]
        try:
            compiler = _compiler()
            if compiler is None:
                raise RuntimeError("no C++ compiler found (set $CXX)")
            openmp = _openmp_runtime()
            attempts = [(_MATH_FLAGS + _isa_flags(), openmp)]
            if "-march=native" in attempts[0][0]:
                attempts.append((_MATH_FLAGS, openmp))  # e.g. a compiler that does not know this CPU
            if openmp:
                attempts.append((_MATH_FLAGS + _isa_flags(), None))  # no OpenMP: Python threads split
            for number, (flags, runtime) in enumerate(attempts):
                try:
                    path = _build(compiler, flags, runtime)
                    break
                except RuntimeError:
                    if number == len(attempts) - 1:
                        raise
            lib = ctypes.CDLL(str(path))
            _declare(lib)
            _state.update(lib=lib, path=path)
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            _state["error"] = str(exc)
            log.info("swinsr CPU attention kernel unavailable (%s); using scaled_dot_product_attention", exc)
        _state["tried"] = True
    return _state["lib"]


def kernel_enabled() -> bool:
    """Whether window attention on the CPU may use the kernel (``SWINSR_CPU_KERNEL``, :func:`cpu_kernel`)."""
    if _forced is not None:
        return _forced
    return os.environ.get("SWINSR_CPU_KERNEL", "1").strip().lower() not in ("0", "false", "no", "off")


def kernel_status() -> str:
    """One line for benchmarks: whether the kernel is used, and if not, why."""
    if not kernel_enabled():
        return "off (SWINSR_CPU_KERNEL=0)"
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
    if torch.jit.is_tracing() or torch.jit.is_scripting():
        return True
    compiler = getattr(torch, "compiler", None)
    if compiler is not None and compiler.is_compiling():
        return True
    onnx = getattr(torch, "onnx", None)
    return bool(onnx is not None and getattr(onnx, "is_in_onnx_export", lambda: False)())


def usable(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, dropout_p: float) -> bool:
    """Whether :func:`window_attention` can take this call (otherwise use SDPA).

    CPU float32/float64 tensors of one shape ``(W, H, N, D)`` with a contiguous channel
    dimension; a mask of ``(H, N, N)`` or ``(1|W, H, N, N)`` whose gradient, if it needs one, is
    shared by all windows; no attention dropout; no graph capture.
    """
    if dropout_p or q.device.type != "cpu" or q.dtype not in (torch.float32, torch.float64):
        return False
    if q.dim() != 4 or k.shape != q.shape or v.shape != q.shape or k.dtype != q.dtype or v.dtype != q.dtype:
        return False
    if q.stride(-1) != 1 or k.stride(-1) != 1 or v.stride(-1) != 1:
        return False
    if mask is not None:
        w, h, n, _ = q.shape
        if mask.dtype != q.dtype or mask.device != q.device or mask.shape[-3:] != (h, n, n):
            return False
        if mask.dim() == 4 and mask.shape[0] not in (1, w):
            return False
        if mask.dim() not in (3, 4) or (mask.requires_grad and mask.dim() == 4 and mask.shape[0] != 1):
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


def _run_split(lib: ctypes.CDLL, call, windows: int, pairs_per_window: int) -> int:
    """Run ``call(w0, w1, chunk, threads)`` over all windows; returns how many thread slots were used.

    With an OpenMP build one call splits the windows over ``threads`` of torch's pool; otherwise
    ranges go to a Python thread pool (ctypes releases the GIL), one thread each.
    """
    threads = max(1, min(torch.get_num_threads(), windows, windows * pairs_per_window // _MIN_PAIRS_PER_THREAD))
    if threads == 1 or lib.swinsr_wattn_openmp():
        call(0, windows, 0, threads)
        return threads
    bounds = [windows * c // threads for c in range(threads + 1)]
    pool = _pool(threads)
    futures = [pool.submit(call, bounds[c], bounds[c + 1], c, 1) for c in range(1, threads)]
    call(bounds[0], bounds[1], 0, 1)
    for future in futures:
        future.result()
    return threads


def _strides(*tensors: torch.Tensor) -> torch.Tensor:
    return torch.tensor([s for t in tensors for s in t.stride()[:3]], dtype=torch.int64)


def _transposed_mask(mask: torch.Tensor | None, lanes: int, n: int) -> tuple[torch.Tensor | None, int, int]:
    """``mask`` as ``(Wm, H, N, Np)`` key-major with the queries zero-padded to ``Np``; its window stride."""
    np_ = -(-n // lanes) * lanes
    if mask is None:
        return None, np_, 0
    m = mask if mask.dim() == 4 else mask[None]
    with torch.no_grad():
        mask_t = m.new_zeros(m.shape[0], m.shape[1], n, np_)
        mask_t[..., :n] = m.transpose(-1, -2)
    return mask_t, np_, (mask_t.stride(0) if m.shape[0] > 1 else 0)


def _functions(dtype: torch.dtype):
    lib = _library()
    suffix = "f32" if dtype == torch.float32 else "f64"
    return getattr(lib, f"swinsr_wattn_forward_{suffix}"), getattr(lib, f"swinsr_wattn_backward_{suffix}"), lib


def _forward(q, k, v, mask, scale: float, need_lse: bool):
    forward_fn, _, lib = _functions(q.dtype)
    w, h, n, d = q.shape
    mask_t, np_, mask_stride = _transposed_mask(mask, lib.swinsr_wattn_lanes(), n)
    strides = _strides(q, k, v)
    strides = torch.cat([strides, torch.tensor([mask_stride], dtype=torch.int64)])
    out = torch.empty((w, n, h * d), dtype=q.dtype)
    lse = torch.empty((w, h, n), dtype=q.dtype) if need_lse else None
    ptr = (lambda t: t.data_ptr() if t is not None else None)

    def call(w0: int, w1: int, _chunk: int, threads: int) -> None:
        forward_fn(q.data_ptr(), k.data_ptr(), v.data_ptr(), strides.data_ptr(), ptr(mask_t), scale,
                   out.data_ptr(), ptr(lse), h, n, d, np_, w0, w1, threads)

    _run_split(lib, call, w, h)
    return out, lse, mask_t


class _WindowAttentionFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, mask, scale):  # type: ignore[override]
        out, lse, mask_t = _forward(q, k, v, mask, scale, need_lse=True)
        ctx.scale = scale
        ctx.mask_shape = None if mask is None else mask.shape
        ctx.save_for_backward(q, k, v, mask_t, out, lse)
        return out

    @staticmethod
    def backward(ctx, d_out):  # type: ignore[override]
        q, k, v, mask_t, out, lse = ctx.saved_tensors
        _, backward_fn, lib = _functions(q.dtype)
        w, h, n, d = q.shape
        np_ = -(-n // lib.swinsr_wattn_lanes()) * lib.swinsr_wattn_lanes()
        d_out = d_out.contiguous()
        mask_stride = 0 if mask_t is None or mask_t.shape[0] == 1 else mask_t.stride(0)
        strides = torch.cat([_strides(q, k, v), torch.tensor([mask_stride], dtype=torch.int64)])
        # one packed (W, N, 3, H, D) buffer, the layout the qkv projection produced
        d_qkv = torch.empty((w, n, 3, h, d), dtype=q.dtype)
        dq, dk, dv = d_qkv.permute(2, 0, 3, 1, 4).unbind(0)
        d_strides = _strides(dq, dk, dv)
        want_mask = ctx.mask_shape is not None and ctx.needs_input_grad[3]
        threads = max(1, torch.get_num_threads())
        d_mask_t = torch.zeros((threads, h, n, np_), dtype=q.dtype) if want_mask else None
        ptr = (lambda t: t.data_ptr() if t is not None else None)

        def call(w0: int, w1: int, chunk: int, threads: int) -> None:
            backward_fn(q.data_ptr(), k.data_ptr(), v.data_ptr(), strides.data_ptr(), ptr(mask_t), ctx.scale,
                        out.data_ptr(), d_out.data_ptr(), lse.data_ptr(), dq.data_ptr(), dk.data_ptr(), dv.data_ptr(),
                        d_strides.data_ptr(), None if d_mask_t is None else d_mask_t[chunk].data_ptr(),
                        h, n, d, np_, w0, w1, threads)

        chunks = _run_split(lib, call, w, h)
        d_mask = None
        if want_mask:
            d_mask = d_mask_t[:chunks].sum(0)[..., :n].transpose(-1, -2).reshape(ctx.mask_shape)
        return dq, dk, dv, d_mask, None


def window_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, scale: float) -> torch.Tensor:
    """``softmax(scale * q @ k^T + mask) @ v`` for windows ``(W, H, N, D)`` -> ``(W, N, H * D)``.

    The output comes in token-major layout, the one the output projection reads, so no
    transpose copy follows. Differentiable in q, k, v and (shared) mask. Check :func:`usable`
    first.
    """
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (q, k, v, mask)):
        return _WindowAttentionFunction.apply(q, k, v, mask, scale)
    return _forward(q, k, v, mask, scale, need_lse=False)[0]
