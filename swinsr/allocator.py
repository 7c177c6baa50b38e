"""The C allocator setting swinsr's commands run CPU work with: freed tensor memory is kept for reuse.

PyTorch's CPU tensors come from ``malloc``. With glibc's defaults a block above the (dynamic)
mmap threshold is mapped on allocation and unmapped on free, and free memory at the top of the
heap is handed back to the kernel once it exceeds the trim threshold. A Swin forward allocates
and frees tensors of one to a few tens of megabytes in every block, so with the defaults much of
that memory is page-faulted in (and zeroed by the kernel) again and again. Measured on a 2-core
AMD EPYC (AVX2 path, 2 threads): swinsr's SwinIR-S x4 training step 4.0-4.2 -> 3.3 s, its 128 px
inference 0.59 -> 0.53 s, and the reference SwinIR's inference 1.72 -> 1.14-1.41 s (its large
attention temporaries page-fault the most).

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
import os
import platform

#: glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: glibc refuses mmap thresholds above HEAP_MAX_SIZE / 2, 32 MiB on 64-bit systems
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 1 << 30

_state: dict[str, str | None] = {"applied": None}


def _user_choice() -> str | None:
    """Why the allocator is left alone, or None when swinsr may tune it."""
    if os.environ.get("SWINSR_ALLOCATOR", "").lower() == "default":
        return "SWINSR_ALLOCATOR=default"
    for var in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"):
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
        try:
            libc = ctypes.CDLL(None)
            ok = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
        except (OSError, AttributeError):
            ok = False
        if ok:
            os.environ["MALLOC_MMAP_THRESHOLD_"] = str(MMAP_THRESHOLD)
            os.environ["MALLOC_TRIM_THRESHOLD_"] = str(TRIM_THRESHOLD)
            _state["applied"] = "tuned"
            return True
        reason = "mallopt refused"
    _state["applied"] = f"default ({reason})"
    return False


def allocator_status() -> str:
    """``tuned (...)`` or ``default (why)``: for benchmark records."""
    if _state["applied"] == "tuned":
        return f"tuned (glibc mmap threshold {MMAP_THRESHOLD >> 20} MiB, trim threshold {TRIM_THRESHOLD >> 20} MiB)"
    if _state["applied"] is not None:
        return _state["applied"]
    reason = _user_choice()
    if reason in ("MALLOC_MMAP_THRESHOLD_ set", "MALLOC_TRIM_THRESHOLD_ set"):
        return "environment (" + ", ".join(f"{v}={os.environ[v]}" for v in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_") if os.environ.get(v)) + ")"
    return f"default ({reason or 'glibc defaults'})"
