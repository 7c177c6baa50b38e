"""Shared test fixtures: locating ../shared, small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from swinsr.allocator import tune_allocator

# Tests call swinsr.cli.main, which tunes the allocator (swinsr.allocator) for the whole process:
# do it once up front so every test, and every child process a test starts (they inherit the
# MALLOC_* variables), runs with the same setting whatever the order.
tune_allocator()

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path | None:
    """``$SWINSR_SHARED`` or ``../shared`` beside the repository, if present."""
    env = os.environ.get("SWINSR_SHARED")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared"]:
        if cand.is_dir() and (cand / "fixtures").is_dir():
            return cand
    return None


SHARED = shared_dir()
SKIP_REASON = "shared material not found: set SWINSR_SHARED or put the shared/ folder beside the repository"
needs_shared = pytest.mark.skipif(SHARED is None, reason=SKIP_REASON)


@pytest.fixture(scope="session")
def shared() -> Path:
    if SHARED is None:
        pytest.skip(SKIP_REASON)
    return SHARED


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield
