#!/usr/bin/env python
"""Prepare SR datasets: bicubic LR images for test sets, and sub-images of large training images.

Two sub-commands:

``lr``         LR_bicubic/X{s}/{stem}x{s}.png beside each HR folder, made with swinsr's
               MATLAB-exact bicubic from the top-left mod-s crop of HR (the standard protocol;
               bit-identical to MATLAB's ``imresize`` for 8-bit images)::

                   python scripts/prepare_datasets.py lr datasets/Set5/HR datasets/Set14/HR --scales 2 3 4

``subimages``  overlapping crops of every image of a folder, as BasicSR's ``extract_subimages``
               (crop size, step, and a threshold that adds a last crop flush with the border when
               the remainder is larger than it); names ``{stem}_s{NNN}.png``::

                   python scripts/prepare_datasets.py subimages DIV2K/HR DIV2K/HR_sub --crop-size 480 --step 240
                   python scripts/prepare_datasets.py subimages DIV2K/LR_bicubic/X4 DIV2K/LR_bicubic/X4_sub \\
                       --crop-size 120 --step 60

Every file is written atomically (temporary file + rename); inputs are never overwritten and
existing outputs are kept unless ``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from swinsr.checkpoint import _atomic_write
from swinsr.imresize import bicubic_downscale

IMAGE_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg", ".webp", ".ppm", ".pgm")
PNG_COMPRESSION = 3  # BasicSR's default: fast, lossless


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder`` (sorted)."""
    if not folder.is_dir():
        sys.exit(f"error: {folder}: folder not found")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_image(path: Path) -> np.ndarray:
    """Read keeping bit depth and channels (gray stays gray, 16-bit stays 16-bit)."""
    img = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"{path}: cannot decode image")
    return img


def write_png(path: Path, img: np.ndarray) -> None:
    """Atomic PNG write (cv2 channel order as read)."""
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:
        raise ValueError(f"{path}: cannot encode image")
    _atomic_write(path, lambda tmp: buf.tofile(tmp))


def crop_starts(length: int, crop_size: int, step: int, thresh_size: int) -> list[int]:
    """Start offsets along one axis: every ``step``, plus a border-flush crop when the rest exceeds ``thresh_size``."""
    if length < crop_size:
        return []
    starts = list(range(0, length - crop_size + 1, step))
    if length - (starts[-1] + crop_size) > thresh_size:
        starts.append(length - crop_size)
    return starts


def _check_distinct(inputs: Iterable[Path], output: Path) -> None:
    out = output.resolve()
    for folder in inputs:
        if folder.resolve() == out:
            sys.exit(f"error: output folder {output} is an input folder; choose another (inputs are never overwritten)")


# --------------------------------------------------------------------------- lr


def _make_lr(job: tuple[Path, Path, int, bool]) -> str:
    hr_path, out_path, scale, overwrite = job
    if out_path.exists() and not overwrite:
        return "kept"
    write_png(out_path, bicubic_downscale(read_image(hr_path), scale))
    return "written"


def cmd_lr(args: argparse.Namespace) -> int:
    jobs = []
    for hr_dir in map(Path, args.hr_dirs):
        root = Path(args.out) if args.out else hr_dir.parent
        for scale in args.scales:
            if scale < 2:
                sys.exit(f"error: --scales {scale}: must be >= 2")
            out_dir = root / "LR_bicubic" / f"X{scale}"
            _check_distinct([hr_dir], out_dir)
            for hr in list_images(hr_dir):
                jobs.append((hr, out_dir / f"{hr.stem}x{scale}.png", scale, args.overwrite))
    counts = _run(_make_lr, jobs, args.workers)
    print(f"LR images: {counts.get('written', 0)} written, {counts.get('kept', 0)} already present (kept)")
    return 0


# --------------------------------------------------------------------------- sub-images


def _extract(job: tuple[Path, Path, int, int, int, bool]) -> str:
    path, out_dir, crop_size, step, thresh_size, overwrite = job
    img = read_image(path)
    h, w = img.shape[:2]
    index = 0
    for y in crop_starts(h, crop_size, step, thresh_size):
        for x in crop_starts(w, crop_size, step, thresh_size):
            index += 1
            target = out_dir / f"{path.stem}_s{index:03d}.png"
            if overwrite or not target.exists():
                write_png(target, np.ascontiguousarray(img[y : y + crop_size, x : x + crop_size]))
    return "images" if index else "too small"


def cmd_subimages(args: argparse.Namespace) -> int:
    src, dst = Path(args.input), Path(args.output)
    _check_distinct([src], dst)
    if args.crop_size < 1 or args.step < 1 or args.thresh_size < 0:
        sys.exit("error: --crop-size and --step must be positive, --thresh-size >= 0")
    files = list_images(src)
    if not files:
        sys.exit(f"error: no images in {src}")
    dst.mkdir(parents=True, exist_ok=True)
    jobs = [(p, dst, args.crop_size, args.step, args.thresh_size, args.overwrite) for p in files]
    counts = _run(_extract, jobs, args.workers)
    total = sum(1 for p in dst.iterdir() if p.suffix == ".png")
    print(f"{len(files)} images -> {total} sub-images in {dst}"
          + (f" ({counts['too small']} smaller than the crop, skipped)" if counts.get("too small") else ""))
    return 0


# --------------------------------------------------------------------------- main


def _run(fn, jobs: list, workers: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(fn, jobs, chunksize=4))
    else:
        results = [fn(j) for j in jobs]
    for r in results:
        counts[r] = counts.get(r, 0) + 1
    return counts


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Prepare SR datasets: MATLAB-bicubic LR images and BasicSR-style sub-images.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("Two sub-commands:")[1] if __doc__ else None,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    workers = dict(type=int, default=1, help="parallel processes (default 1)")
    overwrite = dict(action="store_true", help="rewrite outputs that already exist")

    lr = sub.add_parser("lr", help="write LR_bicubic/X{s}/{stem}x{s}.png beside HR folders")
    lr.add_argument("hr_dirs", nargs="+", help="HR folders (e.g. datasets/Set5/HR)")
    lr.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4], help="scale factors (default 2 3 4)")
    lr.add_argument("--out", help="dataset root for LR_bicubic/ (default: the parent of each HR folder)")
    lr.add_argument("--workers", **workers)
    lr.add_argument("--overwrite", **overwrite)
    lr.set_defaults(func=cmd_lr)

    si = sub.add_parser("subimages", help="cut overlapping crops of every image (BasicSR extract_subimages)")
    si.add_argument("input", help="folder of images")
    si.add_argument("output", help="folder for the crops (created; must differ from input)")
    si.add_argument("--crop-size", type=int, default=480, help="crop side in pixels (default 480; 480/s for LR)")
    si.add_argument("--step", type=int, default=240, help="distance between crops (default 240; 240/s for LR)")
    si.add_argument("--thresh-size", type=int, default=0,
                    help="add a border-flush last crop when more than this many pixels remain (default 0)")
    si.add_argument("--workers", **workers)
    si.add_argument("--overwrite", **overwrite)
    si.set_defaults(func=cmd_subimages)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
