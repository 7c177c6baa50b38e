"""Compiling swinsr's C++ kernels (``kernels/*.cpp``) on the user's machine, once, into a cache.

The kernels are plain C++ with no dependency on PyTorch's headers, loaded with :mod:`ctypes`.
Each is compiled on first use for the CPU it runs on (a second or two, ``c++`` or ``$CXX``) into
swinsr's cache directory (``$SWINSR_CACHE_DIR``, else ``$XDG_CACHE_HOME/swinsr``, else
``~/.cache/swinsr``), keyed by a hash of the source, the compiler, the flags, the OpenMP runtime
and the CPU. It is linked against the OpenMP runtime PyTorch has loaded, so its parallel regions
run on torch's own threads (a second runtime's workers would spin on the same cores).

Build flags follow the CPU capability PyTorch is told to use: with ``ATEN_CPU_CAPABILITY=avx2``
(how we emulate an AVX2-only CPU) a kernel is built for AVX2 + FMA as well, otherwise with
``-march=native``.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

MATH_FLAGS = ["-O3", "-std=c++17", "-fPIC", "-fno-math-errno", "-fno-trapping-math"]


#: seconds one compiler call may take before the kernel is given up (the fallback runs)
COMPILE_TIMEOUT = 300


def cache_dir() -> Path:
    """Where compiled kernels are kept (``$SWINSR_CACHE_DIR``, ``$XDG_CACHE_HOME/swinsr`` or ``~/.cache/swinsr``)."""
    if os.environ.get("SWINSR_CACHE_DIR"):
        return Path(os.environ["SWINSR_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "swinsr"


def _writable_dir(path: Path) -> Path | None:
    """``path``, created if needed, when this process can write there; else None."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK | os.X_OK) else None


def _private_temp_dir() -> Path:
    """A per-user kernel folder in the temp directory, readable by its owner only.

    Never a folder shared between users: ctypes loads whatever library it finds there, so
    another local user must not be able to plant one.
    """
    uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
    path = Path(tempfile.gettempdir()) / f"swinsr-kernels-{uid}"
    path.mkdir(mode=0o700, exist_ok=True)
    info = path.lstat()
    if path.is_symlink() or (hasattr(os, "getuid") and info.st_uid != os.getuid()) or info.st_mode & 0o077:
        raise RuntimeError(f"{path} is not a private folder of this user; set SWINSR_CACHE_DIR")
    return path


def isa_flags() -> list[str]:
    """Instruction-set flags matching the CPU capability PyTorch uses (``ATEN_CPU_CAPABILITY``)."""
    capability = os.environ.get("ATEN_CPU_CAPABILITY", "").lower()
    if capability == "avx2":
        return ["-mavx2", "-mfma"]
    if capability == "default":
        return []
    return ["-march=native"]


def compiler() -> str | None:
    """The C++ compiler to use (``$CXX``, ``c++``, ``g++`` or ``clang++``), or ``None``."""
    return shutil.which(os.environ.get("CXX", "c++")) or shutil.which("g++") or shutil.which("clang++")


def openmp_runtime() -> str | None:
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


def _cpu_identity() -> str:
    """The CPU model and feature flags (``/proc/cpuinfo``), or what :mod:`platform` knows."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    wanted = [line for line in lines if line.startswith(("model name", "flags", "Features", "CPU part"))]
    return "\n".join(dict.fromkeys(wanted)) or f"{platform.machine()} {platform.processor()}"


def _build(source: Path, cxx: str, flags: list[str], openmp: str | None) -> Path:
    """Compile ``source`` (once per source/compiler/flags/runtime/CPU) and return the shared library's path.

    With ``openmp`` (a runtime's path) the object is compiled with ``-fopenmp`` and linked
    against exactly that file, so the kernel's parallel regions use PyTorch's thread pool.
    """
    text = source.read_bytes()
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=False, timeout=60).stdout
    # the CPU is part of the key: a -march=native build from another machine sharing this cache
    # (a network home, a copied image) could use instructions this CPU lacks
    key = hashlib.sha256(text + "\0".join([cxx, version, *flags, openmp or "", _cpu_identity()]).encode()).hexdigest()[:16]
    target_dir = _writable_dir(cache_dir() / "kernels") or _private_temp_dir()
    target = target_dir / f"{source.stem}-{key}.so"
    if target.exists():
        return target
    # build beside the target and rename: a concurrent process never loads a half-written file
    with tempfile.TemporaryDirectory(dir=target_dir) as tmp:
        obj, lib = os.path.join(tmp, "kernel.o"), os.path.join(tmp, "kernel.so")
        if openmp:
            steps = [[cxx, *flags, "-fopenmp", "-c", str(source), "-o", obj],
                     [cxx, "-shared", obj, openmp, f"-Wl,-rpath,{os.path.dirname(openmp)}", "-o", lib]]
        else:
            steps = [[cxx, *flags, "-shared", str(source), "-o", lib]]
        for step in steps:
            result = subprocess.run(step, capture_output=True, text=True, check=False, timeout=COMPILE_TIMEOUT)
            if result.returncode != 0:
                lines = result.stderr.strip().splitlines()
                raise RuntimeError(lines[-1] if lines else f"{cxx} failed")
        os.replace(lib, target)
    return target


def build_kernel(source: Path, openmp: str | None) -> Path:
    """The compiled shared library of ``source``, building it if needed.

    Tries the ISA flags first, then (for ``-march=native``, which a compiler may not know for
    this CPU) baseline flags, then without OpenMP. Raises ``RuntimeError`` with the compiler's
    last message when nothing builds, or when there is no compiler.
    """
    cxx = compiler()
    if cxx is None:
        raise RuntimeError("no C++ compiler found (set $CXX)")
    attempts = [(MATH_FLAGS + isa_flags(), openmp)]
    if "-march=native" in attempts[0][0]:
        attempts.append((MATH_FLAGS, openmp))
    if openmp:
        attempts.append((MATH_FLAGS + isa_flags(), None))  # no OpenMP: the caller splits the work
    for number, (flags, runtime) in enumerate(attempts):
        try:
            return _build(source, cxx, flags, runtime)
        except RuntimeError:
            if number == len(attempts) - 1:
                raise
    raise AssertionError("unreachable")


def load_once(
    state: dict,
    lock: threading.Lock,
    source: Path,
    declare: Callable[[ctypes.CDLL], None],
    openmp: Callable[[], str | None],
    fallback: str,
) -> ctypes.CDLL | None:
    """The kernel of ``source``, built and loaded on the first call (thread-safe), ``None`` when it cannot be.

    ``state`` (the caller's module-level dict) records ``lib``, ``path``, ``error`` and ``tried``, so
    a failed build is attempted once per process; ``declare`` sets the functions' ctypes signatures;
    ``fallback`` says in the log what runs instead.
    """
    if state["tried"]:
        return state["lib"]
    with lock:
        if not state["tried"]:
            try:
                path = build_kernel(source, openmp())
                lib = ctypes.CDLL(str(path))
                declare(lib)
                state.update(lib=lib, path=path)
            except Exception as exc:  # a kernel is an optimisation: whatever fails, the fallback runs
                state["error"] = str(exc)
                log.info("swinsr kernel %s unavailable (%s); %s", source.name, exc, fallback)
            state["tried"] = True
    return state["lib"]
