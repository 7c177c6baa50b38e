"""swinsr.allocator: the malloc thresholds the swinsr command runs CPU work with."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

glibc_only = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="the allocator setting is glibc's mallopt"
)

# A fresh process allocates one 24 MiB tensor and reports how much of it glibc mmapped: with the
# defaults (mmap threshold 128 KiB before any free) all of it, with the tuned thresholds none,
# because it came from the reusable heap.
PROBE = r"""
import ctypes, json, os, sys
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
from swinsr.allocator import allocator_status, tune_allocator
tuned = tune_allocator() if sys.argv[1] == "tune" else None
import torch
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
before = libc.mallinfo2().hblkhd
x = torch.empty(6 << 20)
print(json.dumps({"tuned": tuned, "mmapped_mib": (libc.mallinfo2().hblkhd - before) >> 20, "status": allocator_status(),
                  "env": os.environ.get("MALLOC_TRIM_THRESHOLD_")}))
"""


def _probe(mode: str, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "SWINSR_ALLOCATOR"}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], env={**clean, **env}, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@glibc_only
def test_tuned_allocator_serves_tensors_from_the_heap_and_tells_children():
    default = _probe("none")
    assert default["mmapped_mib"] == 24 and default["status"].startswith("default")
    tuned = _probe("tune")
    assert tuned["tuned"] is True and tuned["mmapped_mib"] == 0 and tuned["status"].startswith("tuned")
    assert tuned["env"] == str(1 << 30)  # children started later inherit the same thresholds


@glibc_only
def test_user_settings_win():
    off = _probe("tune", SWINSR_ALLOCATOR="default")
    assert off["tuned"] is False and off["mmapped_mib"] == 24 and "SWINSR_ALLOCATOR=default" in off["status"]
    own = _probe("tune", MALLOC_MMAP_THRESHOLD_="65536")
    assert own["tuned"] is False and own["mmapped_mib"] == 24 and "MALLOC_MMAP_THRESHOLD_" in own["status"]


def test_bench_speed_allocator_option_is_checked(capsys):
    from swinsr.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["bench-speed", "--allocator", "fast", "--no-memory"])
    assert exit_info.value.code == 2
    assert "--allocator: choose default or tuned" in capsys.readouterr().err


CLI_PROBE = r"""
import sys
from swinsr.allocator import allocator_status
from swinsr.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("STATUS", allocator_status())
"""


@glibc_only
@pytest.mark.parametrize("args, expected", [(["models"], "tuned"), (["--debug", "bench-speed", "--help"], "default")])
def test_the_command_tunes_except_bench_speed(args, expected):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "SWINSR_ALLOCATOR"}
    out = subprocess.run([sys.executable, "-c", CLI_PROBE, *args], env=clean, capture_output=True, text=True,
                         timeout=120).stdout
    status = [ln for ln in out.splitlines() if ln.startswith("STATUS")][-1]
    assert status.split()[1] == expected, out[-500:]
