#!/usr/bin/env python
"""Turn a finished training run into an embedded swinsr model (``swinsr/weights``).

Steps, all reproducible from the training output:

1. read ``experiments/<run>/models/net_g_latest.pth`` (or ``--checkpoint``) and keep its EMA
   weights (``params_ema``, as BasicSR evaluates) with the configuration stored beside them, or
   detected from the shapes (each assumed value is printed; ``--model-arg`` corrects one);
2. write them as ``swinsr/weights/<name>.safetensors`` with the architecture in the metadata;
3. benchmark the written file for its ``--task`` (every figure measured here, none copied):

   * ``sr``: Set5 and Set14 (Y channel, crop = scale, MATLAB-bicubic LR) next to bicubic;
   * ``real``: ``Set14_realx4`` (``LR_realesrgan/X4``, PSNR-Y/SSIM-Y) next to bicubic and the
     classical default of the scale (``swinsr-light-x4``) on the same LR;
   * ``denoise``: McMaster at sigma 15/25/50, ``jpeg``: LIVE1 at quality 10/20/30/40 (SwinIR's
     protocol: RGB PSNR/SSIM, PSNR-B for JPEG) next to the identity baseline (the degraded input);

4. record task, scale, parameter count, training description and the metrics in
   ``swinsr/weights/registry.json`` (what ``swinsr models`` prints). ``--default`` makes the model
   the default of its (task, scale), leaving other tasks' defaults alone.

Examples::

    python scripts/export_default_model.py --run experiments/swinsr_light_x4 --name swinsr-light-x4 \\
        --training "shared train set (97 Mpx), 2,000 iterations on a 2-core CPU" --default
    python scripts/export_default_model.py --task denoise --run experiments/swinsr_denoise \\
        --name swinsr-denoise --training "sigma 0-50, ..." --default
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]

TASKS = ("sr", "real", "denoise", "jpeg")
#: benchmark sets under <shared>/data for each task
DEFAULT_DATASETS = {
    "sr": ["Set5", "Set14"],
    "real": ["Set14_realx4"],
    "denoise": ["restoration/McMaster"],
    "jpeg": ["restoration/LIVE1"],
}
DEFAULT_LR_DIR = {"real": "LR_realesrgan"}
#: registry key of a level: ``sigma25``, ``q10``
LEVEL_PREFIX = {"denoise": "sigma", "jpeg": "q"}
QUICK_IMAGES = 2

Log = Callable[[str], None]


def _log(msg: str) -> None:
    print(msg, file=sys.stderr)


def subset_dataset(root: Path, n: int, into: Path) -> Path:
    """A folder like ``root`` holding only its first ``n`` images (symlinks), for quick runs.

    The clean/HR images (``HR/`` or the folder itself) are linked one by one; every ``LR_*``
    folder is linked whole (the benchmark only reads the LR of the HR images it finds).
    """
    from swinsr.benchmark import list_images

    hr_dir, files = list_images(root)
    out = into / root.name
    hr_out = out / hr_dir.name if hr_dir != root else out
    hr_out.mkdir(parents=True, exist_ok=True)
    for f in files[:n]:
        (hr_out / f.name).symlink_to(f.resolve())
    for lr in root.glob("LR_*"):
        if lr.is_dir():
            (out / lr.name).symlink_to(lr.resolve(), target_is_directory=True)
    return out


def _r(value: float, digits: int) -> float:
    return round(float(value), digits)


def measure_sr(
    model_file: Path, sets: list[Path], scale: int, *, lr_dir: str | None, classical: str | None, device: str | None,
    log: Log,
) -> dict[str, dict[str, Any]]:
    """``{dataset: {psnr_y, ssim_y, bicubic_*, [classical_*, classical], [lr], images}}`` measured on ``sets``."""
    from swinsr.benchmark import run_benchmark

    metrics: dict[str, dict[str, Any]] = {}
    runs: list[tuple[str, str]] = [("", str(model_file)), ("bicubic_", "bicubic")]
    if classical:
        runs.append(("classical_", classical))
    for prefix, method in runs:
        report = run_benchmark(method, list(sets), scale, lr_dir=lr_dir, device=device, log=log)
        for row in report.results:
            entry = metrics.setdefault(row["dataset"], {})
            entry[f"{prefix}psnr_y"] = _r(row["psnr_y"], 3)
            entry[f"{prefix}ssim_y"] = _r(row["ssim_y"], 4)
            if not prefix:
                entry["images"] = row["images"]
                if "lr" in row:
                    entry["lr"] = row["lr"]
    if classical:
        for entry in metrics.values():
            entry["classical"] = classical
    return metrics


def measure_restoration(
    model_file: Path, sets: list[Path], task: str, levels: list[float], *, device: str | None, log: Log
) -> dict[str, dict[str, Any]]:
    """``{dataset: {"sigma15"|"q10": {psnr, ssim, [psnrb], identity_*}, ..., "images": n}}`` (SwinIR protocol)."""
    from swinsr.restoration_benchmark import LEVEL_KEY, level_value, run_restoration_benchmark

    keys = ("psnr", "ssim", "psnrb") if task == "jpeg" else ("psnr", "ssim")
    metrics: dict[str, dict[str, Any]] = {}
    for prefix, method in (("", str(model_file)), ("identity_", "identity")):
        report = run_restoration_benchmark(method, list(sets), task, levels, device=device, log=log)
        for row in report.results:
            entry = metrics.setdefault(row["dataset"], {})
            level = entry.setdefault(f"{LEVEL_PREFIX[task]}{level_value(row[LEVEL_KEY[task]])}", {})
            for key in keys:
                level[f"{prefix}{key}"] = _r(row[key], 4 if key == "ssim" else 3)
            entry["images"] = row["images"]
    return metrics


def model_card_markdown(task: str, name: str, metrics: dict[str, dict[str, Any]]) -> str:
    """A README table of the measured figures: the model next to its baselines, one column per set/level."""
    if task in ("sr", "real"):
        sets = list(metrics)
        rows = [("bicubic", "bicubic_")]
        classical = {e.get("classical") for e in metrics.values()} - {None}
        rows += [(str(c), "classical_") for c in classical]
        rows.append((f"**{name}**", ""))
        lines = ["| PSNR-Y / SSIM-Y | " + " | ".join(sets) + " |", "|---" * (len(sets) + 1) + "|"]
        nan = float("nan")
        for label, prefix in rows:
            cells = [f"{metrics[d].get(prefix + 'psnr_y', nan):.3f} / {metrics[d].get(prefix + 'ssim_y', nan):.4f}" for d in sets]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        return "\n".join(lines)
    keys = ("psnr", "ssim", "psnrb") if task == "jpeg" else ("psnr", "ssim")
    cols = [(d, lv) for d, e in metrics.items() for lv, v in e.items() if isinstance(v, dict)]
    lines = [f"| RGB {' / '.join(k.upper().replace('PSNRB', 'PSNR-B') for k in keys)} | "
             + " | ".join(f"{d} {lv}" for d, lv in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for label, prefix in (("input (identity)", "identity_"), (f"**{name}**", "")):
        cells = [" / ".join(f"{metrics[d][lv][prefix + k]:.{4 if k == 'ssim' else 2}f}" for k in keys) for d, lv in cols]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def update_registry(registry: dict[str, Any], name: str, entry: dict[str, Any], *, make_default: bool) -> dict[str, Any]:
    """``registry`` with ``entry`` under ``name``; ``make_default`` un-defaults only the same (task, scale)."""
    if make_default:
        for other, e in registry.items():
            if other != name and e.get("scale") == entry["scale"] and e.get("task", "sr") == entry["task"]:
                e["default"] = False
    entry["default"] = bool(make_default) or bool(registry.get(name, {}).get("default", False))
    registry[name] = entry
    return dict(sorted(registry.items()))


def build_parser() -> argparse.ArgumentParser:
    """The script's options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="experiment folder (uses models/net_g_latest.pth)")
    parser.add_argument("--checkpoint", type=Path, help="checkpoint file instead of --run")
    parser.add_argument("--name", required=True, help="registered model name, e.g. swinsr-light-x4")
    parser.add_argument("--task", choices=TASKS, default="sr",
                        help="what the model is for: sr (classical, default), real (real-world SR), denoise, jpeg")
    parser.add_argument("--training", default="", help="one line on training data, iterations and time")
    parser.add_argument("--default", action="store_true", help="make it the default model of its task and scale")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="shared material folder")
    parser.add_argument("--datasets", nargs="+", help="benchmark sets under <shared>/data (default: per task, see above)")
    parser.add_argument("--lr-dir", help="sr/real: LR folder of the sets (real default: LR_realesrgan)")
    parser.add_argument("--levels", help="denoise: sigmas (default 15,25,50); jpeg: qualities (default 10,20,30,40)")
    parser.add_argument("--classical", help="real: the classical model measured alongside "
                        "(default: the classical default of the scale; 'none' to skip)")
    parser.add_argument("--max-images", type=int, help="score only the first N images of each set (for tests)")
    parser.add_argument("--quick", action="store_true", help=f"same as --max-images {QUICK_IMAGES}")
    parser.add_argument("--device", help="benchmark device (default: best available)")
    parser.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="constructor argument the checkpoint cannot tell (repeatable), as in swinsr --model-arg")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Export, measure and register; returns the exit status (2 for usage errors)."""
    from swinsr.errors import SwinSRError, report_user_error

    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.run is None) == (args.checkpoint is None):
        parser.error("give exactly one of --run and --checkpoint")
    if args.max_images is not None and args.max_images < 1:
        parser.error(f"--max-images {args.max_images}: must be >= 1")
    try:
        return _export(args, parser)
    except SwinSRError as exc:
        return report_user_error(exc)


def _measure(args: argparse.Namespace, weights: Path, sets: list[Path], scale: int) -> dict[str, Any]:
    """The registry metrics of ``weights`` for ``args.task`` on ``sets``."""
    import swinsr.zoo as zoo
    from swinsr.restoration_benchmark import parse_levels

    limit = QUICK_IMAGES if args.quick else args.max_images
    with tempfile.TemporaryDirectory(prefix="swinsr-export-") as tmp:
        if limit is not None:
            sets = [subset_dataset(s, limit, Path(tmp) / str(i)) for i, s in enumerate(sets)]
        if args.task in ("sr", "real"):
            classical = args.classical
            if args.task == "real" and classical is None:
                classical = zoo.default_model_name(scale, "sr")
                if classical is None:
                    _log(f"no classical x{scale} default is registered: the model card shows bicubic only")
            if args.task == "sr" or (classical or "").lower() == "none":
                classical = None
            return measure_sr(weights, sets, scale, lr_dir=args.lr_dir or DEFAULT_LR_DIR.get(args.task),
                              classical=classical, device=args.device, log=_log)
        levels = parse_levels(args.task, args.levels)  # None: SwinIR's table levels
        return measure_restoration(weights, sets, args.task, levels, device=args.device, log=_log)


def _export(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import swinsr
    import swinsr.zoo as zoo
    from swinsr.checkpoint import _atomic_write, read_checkpoint
    from swinsr.cli.model_args import parse_model_args

    overrides = parse_model_args(args.model_arg)
    ckpt = args.checkpoint or args.run / "models" / "net_g_latest.pth"
    raw, _ = read_checkpoint(ckpt)
    key = "params_ema" if isinstance(raw, dict) and "params_ema" in raw else "params"
    # from the file, so a configuration saved with the weights (``swinsr_spec``) is used, not re-detected
    model = swinsr.load_model(ckpt, **overrides)
    spec = getattr(model, "swinsr_spec", None)
    for note in spec.notes if spec is not None else []:
        _log(f"{ckpt.name}: {note} (correct it with --model-arg KEY=VALUE if the training used another value)")
    if not hasattr(model, "upscale"):
        parser.error(f"{ckpt} is not a super-resolution / restoration model")
    scale = int(model.upscale)
    if args.task in ("sr", "real") and scale < 2:
        parser.error(f"--task {args.task}: {ckpt} upscales x{scale}; give --task denoise or jpeg for a scale-1 model")
    if args.task in ("denoise", "jpeg") and scale != 1:
        parser.error(f"--task {args.task}: {ckpt} upscales x{scale}; a {args.task} model must be scale 1")

    if not args.name or any(ch in args.name for ch in "/\\") or args.name.startswith("."):
        parser.error(f"--name {args.name!r}: a plain model name such as swinsr-light-x4 (no folders)")
    names = args.datasets or DEFAULT_DATASETS[args.task]
    sets = [args.shared / "data" / d for d in names]
    missing = [str(s) for s in sets if not s.is_dir()]
    if missing:  # before anything is written
        parser.error(f"benchmark set(s) not found: {', '.join(missing)} (give --shared or --datasets)")
    registry_file = zoo.REGISTRY_FILE
    try:  # read (and checked) before anything is written
        registry = json.loads(registry_file.read_text()) if registry_file.exists() else {}
    except (OSError, ValueError) as exc:
        parser.error(f"{registry_file}: not a readable registry ({exc}); restore it with git checkout")
    out = zoo.WEIGHTS_DIR / f"{args.name}.safetensors"
    # benchmarked under a staging name: the shipped file and its registry entry change together,
    # only after every measurement succeeded
    staged = zoo.WEIGHTS_DIR / f".{args.name}.staged.safetensors"
    try:
        swinsr.save_checkpoint(model, staged)
        print(f"wrote {staged} ({staged.stat().st_size / 1e6:.2f} MB, weights: {key}); measuring it")
        metrics = _measure(args, staged, sets, scale)
        os.replace(staged, out)
    finally:
        staged.unlink(missing_ok=True)
    print(f"installed {out}")

    entry = {
        "file": out.name,
        "scale": scale,
        "task": args.task,
        "default": False,  # set by update_registry; here so the key keeps its place in the file
        "parameters": sum(p.numel() for p in model.parameters()),
        "training": args.training,
        "metrics": metrics,
    }
    registry = update_registry(registry, args.name, entry, make_default=args.default)
    text = json.dumps(registry, indent=2) + "\n"
    _atomic_write(registry_file, lambda tmp: Path(tmp).write_text(text))
    print(json.dumps({args.name: registry[args.name]}, indent=2))
    print("\nmodel card (markdown):\n" + model_card_markdown(args.task, args.name, metrics))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
