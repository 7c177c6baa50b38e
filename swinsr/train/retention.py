"""What a training run keeps on disk: older checkpoints pruned, the free space of a save checked first,
the temp files of an interrupted save removed.

A run saves ``models/net_<name>_<iter>.pth`` (+ ``net_<name>_latest.pth``) and
``training_states/<iter>.state`` every ``logger.save_checkpoint_freq`` iterations. BasicSR keeps them
all, which is what a run does here too unless ``logger.keep_checkpoints: N`` is set: then after each
successful save only the newest N saved iterations stay (weights and state together; the ``latest``
files are never touched). Pruning runs only after the new save is complete, so a failed save never
leaves fewer than N intact checkpoints.

A save whose files cannot fit is refused *before* anything is written, with the space needed and free
(the size of the previous save, or an estimate from the tensors on the first one). A process killed in
the middle of a save leaves only dot-prefixed ``.tmp`` files (see :func:`swinsr.checkpoint._atomic_write`);
they are removed when the run starts again.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path
from typing import Iterable

from ..errors import SwinSRError

log = logging.getLogger("swinsr.train")

#: ``net_g_1200.pth``, ``net_d_1200.pth``, ``net_g_ema_1200.pth`` (not ``net_g_latest.pth``)
CHECKPOINT_NAME = re.compile(r"^net_(?P<net>.+)_(?P<iter>\d+)\.pth$")
STATE_NAME = re.compile(r"^(?P<iter>\d+)\.state$")
#: the temp files of :func:`swinsr.checkpoint._atomic_write`: ``.<final name>.<random>.tmp``
TEMP_NAME = re.compile(r"^\..+\.tmp$")
#: headroom above the estimate: file-system metadata, a slightly larger pickle than last time
MARGIN_BYTES = 16 << 20
MARGIN_RATIO = 1.1


def _iters(folder: Path, pattern: re.Pattern[str]) -> dict[int, list[Path]]:
    found: dict[int, list[Path]] = {}
    if folder.is_dir():
        for p in folder.iterdir():
            m = pattern.match(p.name)
            if m and p.is_file():
                found.setdefault(int(m.group("iter")), []).append(p)
    return found


def prune_checkpoints(models_dir: str | Path, states_dir: str | Path, keep: int) -> list[Path]:
    """Delete the saves older than the newest ``keep`` iterations that have a training state.

    Only files older than the oldest kept state go (weights of an iteration newer than every state,
    left by a save whose state write failed, are kept). Returns the removed paths.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    states = _iters(Path(states_dir), STATE_NAME)
    if len(states) <= keep:
        return []
    oldest_kept = sorted(states)[-keep]
    doomed = [p for it, ps in states.items() if it < oldest_kept for p in ps]
    doomed += [p for it, ps in _iters(Path(models_dir), CHECKPOINT_NAME).items() if it < oldest_kept for p in ps]
    removed = []
    for p in sorted(doomed):
        try:
            p.unlink()
            removed.append(p)
        except FileNotFoundError:
            pass
        except OSError as exc:  # a read-only file is left, and said so, rather than stopping the run
            log.warning("could not remove the old checkpoint %s (%s)", p, exc)
    return removed


def remove_stale_temp_files(folders: Iterable[str | Path]) -> list[Path]:
    """Remove the ``.*.tmp`` files an interrupted save left in ``folders``; returns them."""
    removed = []
    for folder in folders:
        d = Path(folder)
        if not d.is_dir():
            continue
        for p in sorted(d.iterdir()):
            if TEMP_NAME.match(p.name) and p.is_file():
                try:
                    p.unlink()
                    removed.append(p)
                except OSError as exc:
                    log.warning("could not remove %s, left by an interrupted save (%s)", p, exc)
    return removed


def last_save_bytes(models_dir: str | Path, states_dir: str | Path) -> int | None:
    """Bytes the newest complete save took: its state, its weights and one ``latest`` copy of each net."""
    states = _iters(Path(states_dir), STATE_NAME)
    if not states:
        return None
    it = max(states)
    nets = _iters(Path(models_dir), CHECKPOINT_NAME).get(it, [])
    if not nets:
        return None
    # each net is written twice per save (net_<name>_<iter>.pth and net_<name>_latest.pth)
    return sum(p.stat().st_size for p in states[it]) + 2 * sum(p.stat().st_size for p in nets)


def check_free_space(folder: str | Path, needed: int, what: str) -> None:
    """Raise :class:`SwinSRError` naming ``what`` unless ``folder``'s file system has room for ``needed`` bytes."""
    need = int(needed * MARGIN_RATIO) + MARGIN_BYTES
    try:
        free = shutil.disk_usage(folder).free
    except OSError:  # unknown: let the write itself report
        return
    if free < need:
        raise SwinSRError(
            f"{what} needs about {need / 2**20:.0f} MB in {folder} but only {free / 2**20:.0f} MB are free; "
            "nothing was written and the earlier checkpoints are intact: free disk space (or set "
            "logger.keep_checkpoints to keep fewer), then rerun with --auto_resume"
        )


__all__ = [
    "CHECKPOINT_NAME",
    "STATE_NAME",
    "TEMP_NAME",
    "check_free_space",
    "last_save_bytes",
    "prune_checkpoints",
    "remove_stale_temp_files",
]
