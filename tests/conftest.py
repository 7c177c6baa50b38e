"""Shared test fixtures: locating ../shared, small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

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
