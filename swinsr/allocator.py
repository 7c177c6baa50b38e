"""How swinsr uses the C allocator (glibc) on the CPU: reuse for speed, hand back for memory.

* :func:`tune_allocator`: the setting the ``swinsr`` command runs with, freed tensor memory kept for reuse;
* :func:`trim_freed_memory`: free heap pages handed back between the tiles of a streamed upscale;
* :func:`return_freed_memory`: the Upscaler's low-memory mode for images that barely fit.

Why the first. PyTorch's CPU tensors come from ``malloc``. With glibc's defaults a block above the (dynamic)
mmap threshold is mapped on allocation and unmapped on free, and free memory at the top of the
heap is handed back to the kernel once it exceeds the trim threshold. A Swin forward allocates
and frees tensors of one to a few tens of megabytes in every block, so with the defaults much of
that memory is page-faulted in (and zeroed by the kernel) again and again. Measured with
``swinsr bench-speed --allocator default|tuned`` on the idle 2-core AMD EPYC (AVX2 path, 2 threads):
swinsr's SwinIR-S x4 training step 2.81 -> 2.60 s, its 128 px inference 0.381 -> 0.370 s, and the
reference SwinIR's inference 1.22 -> 0.87 s (its large attention temporaries page-fault the most);
with other work on the machine the fast path's gain was larger (training 4.2-4.7 -> 3.8 s).

:func:`tune_allocator` raises both thresholds (mmap at glibc's maximum of 32 MiB, trim at 1 GiB)
so those blocks are reused instead. The cost: a process keeps up to 1 GiB of freed memory mapped
until it exits (its peak is unchanged). The ``swinsr`` command applies it at start-up; the
library never changes the process's allocator on import. Settings the user made are respected:
nothing is changed when ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, a glibc malloc
tunable, or ``SWINSR_ALLOCATOR=default`` is set, or off glibc (musl, macOS, Windows, or
jemalloc / tcmalloc preloaded, which have their own caches).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

#: glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: glibc refuses mmap thresholds above HEAP_MAX_SIZE / 2, 32 MiB on 64-bit systems
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 1 << 30
#: the mmap threshold of the low-memory mode (:func:`return_freed_memory`)
LOW_MEMORY_MMAP_THRESHOLD = 4 << 20
#: the environment variables glibc reads these thresholds from (set by the user, or by us for children)
_ENV_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")

_state: dict[str, str | None] = {"applied": None}


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if os.name != "posix" or name is None:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def _user_choice() -> str | None:
    """Why the allocator is left alone, or None when swinsr may tune it."""
    if os.environ.get("SWINSR_ALLOCATOR", "").lower() == "default":
        return "SWINSR_ALLOCATOR=default"
    for var in _ENV_VARS:
        if os.environ.get(var):
            return f"{var} set"
    if "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        return "GLIBC_TUNABLES set"
    preload = os.environ.get("LD_PRELOAD", "")
    if "jemalloc" in preload or "tcmalloc" in preload or "mimalloc" in preload:
        return "another allocator preloaded"
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return "not glibc"
    return None


def tune_allocator() -> bool:
    """Keep freed blocks up to 32 MiB and up to 1 GiB of free heap for reuse (glibc only).

    Process-wide and not undone; child processes started afterwards inherit it through the
    ``MALLOC_*_THRESHOLD_`` environment variables set here. Returns whether it is in effect.
    See the module docstring for what it buys and when it does nothing.
    """
    if _state["applied"] is not None:
        return _state["applied"] == "tuned"
    reason = _user_choice()
    if reason is None:
        mallopt = getattr(_libc(), "mallopt", None)
        ok = mallopt is not None and mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
        if ok:
            os.environ.update(zip(_ENV_VARS, (str(MMAP_THRESHOLD), str(TRIM_THRESHOLD))))
            _state["applied"] = "tuned"
            return True
        reason = "mallopt refused"
    _state["applied"] = f"default ({reason})"
    return False


def trim_freed_memory() -> bool:
    """Hand the heap's free pages back to the OS (glibc ``malloc_trim``; True when it ran).

    Called after each tile of a streamed CPU upscale: between tiles nearly everything the
    model allocated is free, so the next tile starts from a small heap instead of piling up
    fragments of tiles of other shapes. Measured: six 328/296-pixel tile forwards of the default
    model peaked at 708 MB RSS without and 625 MB with a trim after each, at the same speed.
    An explicit trim works whatever the trim threshold (:func:`tune_allocator` raises it).
    """
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is None:
        return False
    trim(0)
    return True


def return_freed_memory(threshold: int = LOW_MEMORY_MMAP_THRESHOLD) -> bool:
    """Low-memory mode: big buffers are mmapped and go back to the OS when freed (glibc; True when applied).

    glibc serves big allocations with ``mmap`` only above a threshold that it raises itself, up
    to 32 MB, after the first such free (:func:`tune_allocator` sets it there at once); from then
    on a tile's activations (about 20 MB each for a 328x328 tile) come from the heap, which
    fragments as tiles of different shapes come and go. A low fixed threshold stops that, at a
    price: every big buffer is page-faulted afresh. Measured on the 2-core CPU (default x4 model,
    256-pixel tiles, before the streamed output): a 2048x1536 x4 upscale peaked at 771 MB RSS with
    it (1240 MB without), but each tile took about 1.5x the CPU time.
    :class:`~swinsr.inference.Upscaler` switches it on only when an image needs more than half
    the available memory. It is process-wide and stays on (like ``MALLOC_MMAP_THRESHOLD_``).
    """
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:  # not glibc (musl, macOS): nothing to tune
        return False
    if not mallopt(_M_MMAP_THRESHOLD, int(threshold)):
        return False
    _state["applied"] = f"low-memory (glibc mmap threshold {int(threshold) >> 20} MiB)"
    return True


def allocator_status() -> str:
    """``tuned (...)`` or ``default (why)``: for benchmark records."""
    if _state["applied"] == "tuned":
        return f"tuned (glibc mmap threshold {MMAP_THRESHOLD >> 20} MiB, trim threshold {TRIM_THRESHOLD >> 20} MiB)"
    if _state["applied"] is not None:
        return _state["applied"]
    env = [f"{v}={os.environ[v]}" for v in _ENV_VARS if os.environ.get(v)]
    if env:
        return f"environment ({', '.join(env)})"
    return f"default ({_user_choice() or 'glibc defaults'})"
