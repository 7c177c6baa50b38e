"""Evaluate a trained model with a BasicSR-format *test* option file (``options/test/*.yml``).

    python -m swinsr.train.test -opt options/test/test_SwinIR_SRx4_lightweight_shared.yml

Loads ``path.pretrain_network_g`` (key ``param_key_g``, usually ``params_ema``), runs every
``datasets.test_*`` / ``val*`` set, logs the ``val.metrics`` averages, writes them to
``results/<name>/metrics.csv`` and, with ``val.save_img``, the outputs to ``results/<name>/<set>/``.
A set without GT (``SingleImageDataset``: real-world LR inputs) is only restored: its outputs are
always saved there and its metrics are skipped, so such a file needs no ``val`` section.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..data import DATASET_REGISTRY, build_dataloader, build_dataset
from ..errors import OptionError, SwinSRError, report_user_error
from .dist import DistInfo
from .logger import MetricsCSV, close_logger, setup_logger
from .loop import select_device
from .models import MODEL_REGISTRY
from .options import parse_options

log = logging.getLogger("swinsr.train")


def test_pipeline(
    options: str | os.PathLike | Mapping[str, Any],
    *,
    force_yml: Sequence[str] = (),
    root: str | os.PathLike | None = None,
) -> dict[str, dict[str, float]]:
    """Score the model of a test option file on its datasets; returns ``{set name: {metric: value}}``
    (``{}`` for a set without GT, whose outputs are saved instead)."""
    opt, warnings = parse_options(options, force_yml=force_yml, is_train=False, root=root)
    if not opt["path"].get("pretrain_network_g"):
        raise OptionError("path.pretrain_network_g: missing; a test option file names the weights to evaluate")
    test_sets = {k: d for k, d in opt["datasets"].items() if d["phase"] != "train"}
    scored = any(getattr(DATASET_REGISTRY.get(d["type"]), "HAS_GT", True) for d in test_sets.values())
    if scored and (not opt.get("val") or not opt["val"].get("metrics")):
        raise OptionError("val.metrics: missing; name the metrics to compute (calculate_psnr, calculate_ssim, ...)")
    results_root = Path(root or Path.cwd()) / "results" / opt["name"]
    results_root.mkdir(parents=True, exist_ok=True)
    setup_logger(results_root / f"test_{opt['name']}.log")
    try:
        for w in warnings:
            log.warning("%s", w)
        device = select_device(opt, DistInfo())
        model = MODEL_REGISTRY.get(opt["model_type"])(opt, device, DistInfo())
        csv_log = MetricsCSV(results_root / "metrics.csv")
        out: dict[str, dict[str, float]] = {}
        for dopt in test_sets.values():
            dataset = build_dataset(dopt)
            loader = build_dataloader(dataset, dopt)
            if not getattr(dataset, "HAS_GT", True):
                # LQ only: the restored images are the whole result, so they are saved regardless of save_img
                save_dir = results_root / dopt["name"]
                model.validation(loader, None, save_dir)
                out[dopt["name"]] = {}
                log.info("%s: no GT images (%s), metrics skipped; %d outputs saved to %s",
                         dopt["name"], dopt["type"], len(dataset), save_dir)
                continue
            save_dir = results_root / dopt["name"] if opt["val"].get("save_img") else None
            metrics = model.validation(loader, None, save_dir)
            out[dopt["name"]] = metrics
            log.info("%s: %s", dopt["name"], " ".join(f"{k}: {v:.4f}" for k, v in metrics.items()))
            csv_log.write(0, 0, f"test:{dopt['name']}", metrics)
        return out
    finally:
        close_logger()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m swinsr.train.test", description="Evaluate a model with a BasicSR-format test option file.")
    p.add_argument("-opt", "--opt", required=True, help="test option YAML file")
    p.add_argument("--force_yml", "--force-yml", nargs="+", default=[], help="override options: key:sub=value ...")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    args = p.parse_args(argv)
    try:
        test_pipeline(args.opt, force_yml=args.force_yml)
    except SwinSRError as exc:
        return report_user_error(exc, args.debug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
