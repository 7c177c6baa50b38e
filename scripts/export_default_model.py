#!/usr/bin/env python
"""Turn a finished training run into an embedded swinsr model (``swinsr/weights``).

Steps, all reproducible from the training output:

1. read ``experiments/<run>/models/net_g_latest.pth`` (or ``--checkpoint``) and keep its EMA
   weights (``params_ema``, as BasicSR evaluates);
2. write them as ``swinsr/weights/<name>.safetensors`` with the architecture in the metadata;
3. benchmark them with ``swinsr.benchmark`` (standard protocol: Y channel, crop = scale,
   MATLAB-bicubic LR) on Set5 and Set14 next to bicubic;
4. record scale, parameter count, training description and the measured PSNR/SSIM in
   ``swinsr/weights/registry.json`` (what ``swinsr models`` prints and ``--scale`` defaults use).

Example::

    python scripts/export_default_model.py --run experiments/swinsr_light_x4 --name swinsr-light-x4 \\
        --training "shared train set (97 Mpx), 2,000 iterations on a 2-core CPU" --default
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="experiment folder (uses models/net_g_latest.pth)")
    parser.add_argument("--checkpoint", type=Path, help="checkpoint file instead of --run")
    parser.add_argument("--name", required=True, help="registered model name, e.g. swinsr-light-x4")
    parser.add_argument("--training", default="", help="one line on training data, iterations and time")
    parser.add_argument("--default", action="store_true", help="make it the default model for its scale")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="shared material folder (for Set5/Set14)")
    parser.add_argument("--datasets", nargs="+", default=["Set5", "Set14"], help="benchmark sets under <shared>/data")
    args = parser.parse_args(argv)

    import swinsr
    from swinsr.benchmark import run_benchmark
    from swinsr.checkpoint import _atomic_write, read_checkpoint
    from swinsr.zoo import REGISTRY_FILE, WEIGHTS_DIR

    if (args.run is None) == (args.checkpoint is None):
        parser.error("give exactly one of --run and --checkpoint")
    ckpt = args.checkpoint or args.run / "models" / "net_g_latest.pth"
    raw, _ = read_checkpoint(ckpt)
    key = "params_ema" if isinstance(raw, dict) and "params_ema" in raw else "params"
    model = swinsr.load_model({key: raw[key]} if isinstance(raw, dict) and key in raw else raw)
    if not hasattr(model, "upscale"):
        parser.error(f"{ckpt} is not a super-resolution model")
    out = WEIGHTS_DIR / f"{args.name}.safetensors"
    swinsr.save_checkpoint(model, out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, weights: {key})")

    scale = int(model.upscale)
    sets = [args.shared / "data" / d for d in args.datasets]
    metrics: dict[str, dict[str, float]] = {}
    for label, method in (("model", str(out)), ("bicubic", "bicubic")):
        report = run_benchmark(method, sets, scale, log=lambda m: print(m, file=sys.stderr))
        for row in report.results:
            entry = {"psnr_y": round(row["psnr_y"], 3), "ssim_y": round(row["ssim_y"], 4)}
            if label == "model":
                metrics[row["dataset"]] = entry
            else:
                metrics[row["dataset"]]["bicubic_psnr_y"] = entry["psnr_y"]
                metrics[row["dataset"]]["bicubic_ssim_y"] = entry["ssim_y"]
    registry = json.loads(REGISTRY_FILE.read_text()) if REGISTRY_FILE.exists() else {}
    if args.default:
        for entry in registry.values():
            if entry.get("scale") == scale:
                entry["default"] = False
    registry[args.name] = {
        "file": out.name,
        "scale": scale,
        "task": "sr",
        "default": bool(args.default) or registry.get(args.name, {}).get("default", False),
        "parameters": sum(p.numel() for p in model.parameters()),
        "training": args.training,
        "metrics": metrics,
    }
    text = json.dumps(dict(sorted(registry.items())), indent=2) + "\n"
    _atomic_write(REGISTRY_FILE, lambda tmp: Path(tmp).write_text(text))
    print(json.dumps({args.name: registry[args.name]}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
