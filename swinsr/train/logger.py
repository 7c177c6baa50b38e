"""Training log (file + console), metrics CSV and optional TensorBoard."""

from __future__ import annotations

import csv
import datetime
import io
import logging
import sys
import time
from pathlib import Path
from typing import Any, Mapping

from ..checkpoint import _atomic_write

LOGGER_NAME = "swinsr.train"
CSV_COLUMNS = ("iter", "epoch", "split", "name", "value", "time")


def setup_logger(log_file: str | Path | None, is_main: bool = True, level: int = logging.INFO) -> logging.Logger:
    """The ``swinsr.train`` logger: appends to ``log_file`` and prints to stdout (rank 0 only)."""
    logger = logging.getLogger(LOGGER_NAME)
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    logger.propagate = False
    logger.setLevel(level if is_main else logging.ERROR)
    fmt = logging.Formatter("%(asctime)s %(levelname)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    stream = logging.StreamHandler(sys.stdout)
    stream.setFormatter(fmt)
    logger.addHandler(stream)
    if log_file is not None and is_main:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(log_file, mode="a", encoding="utf-8")
        fh.setFormatter(fmt)
        logger.addHandler(fh)
    return logger


def close_logger() -> None:
    logger = logging.getLogger(LOGGER_NAME)
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()


class MetricsCSV:
    """Long-format CSV ``iter,epoch,split,name,value,time`` (train losses and validation metrics).

    On resume, rows after the resumed iteration are dropped: those iterations are redone.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def truncate_after(self, it: int) -> None:
        if not self.path.exists():
            return
        with self.path.open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["iter"]) <= it]
        buf = io.StringIO()
        w = csv.DictWriter(buf, CSV_COLUMNS)
        w.writeheader()
        w.writerows(rows)
        _atomic_write(self.path, lambda tmp: Path(tmp).write_text(buf.getvalue()))

    def write(self, it: int, epoch: int, split: str, values: Mapping[str, float]) -> None:
        new = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(CSV_COLUMNS)
            now = f"{time.time():.3f}"
            for name, value in values.items():
                w.writerow([it, epoch, split, name, repr(float(value)), now])

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open(newline="") as f:
            return list(csv.DictReader(f))


def tensorboard_writer(log_dir: str | Path) -> Any | None:
    """A TensorBoard ``SummaryWriter``, or ``None`` (with a log line) when tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception as exc:  # tensorboard missing or broken
        logging.getLogger(LOGGER_NAME).warning("logger.use_tb_logger: TensorBoard is not available (%s); not logging to it", exc)
        return None
    return SummaryWriter(log_dir=str(log_dir))


def format_eta(seconds: float) -> str:
    return str(datetime.timedelta(seconds=int(max(0.0, seconds))))
