#!/usr/bin/env python
"""Draw the README's before/after pictures: bicubic | swinsr model(s) | HR on a test-set crop.

With ``--task denoise`` / ``--task jpeg`` it draws the restoration picture instead: the clean image
degraded by the benchmark's own protocol (seeded Gaussian noise, OpenCV JPEG) | the embedded
restoration model (or ``--model``) | clean, each restored panel labelled with its RGB PSNR.

For super-resolution it uses a shared LR image (the benchmark's input: MATLAB bicubic, or another ``--lr-dir`` such as the
Real-ESRGAN-degraded ``LR_realesrgan``), ``swinsr.imresize`` for the bicubic panel and the
embedded classical default for the scale (or ``--model``, repeatable for several panels), so the
picture always shows what those models give. Written atomically.

Example::

    python scripts/make_before_after.py                      # docs/before_after_x4.png
    python scripts/make_before_after.py --image Set5/butterfly --box 60 40 48
    python scripts/make_before_after.py --image Set14_realx4/comic --lr-dir LR_realesrgan \
        --model swinsr-light-x4 --model swinsr-real-x4 -o docs/before_after_real_x4.png
    python scripts/make_before_after.py --task denoise --image restoration/McMaster/9 --level 25
    python scripts/make_before_after.py --task jpeg --image restoration/LIVE1/parrots --level 10 --box 130 330 100 --zoom 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LABEL_HEIGHT = 22


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default="Set14/zebra",
                        help="SET/NAME under <shared>/data (default: Set14/zebra; restoration: e.g. restoration/McMaster/9)")
    parser.add_argument("--task", choices=("sr", "denoise", "jpeg"), default="sr",
                        help="sr (default), or a restoration picture: degraded | model | clean")
    parser.add_argument("--level", type=float, default=None,
                        help="restoration: noise sigma (default 25) or JPEG quality (default 10)")
    parser.add_argument("--scale", type=int, default=4, choices=(2, 3, 4))
    parser.add_argument("--box", type=int, nargs=3, default=None, metavar=("TOP", "LEFT", "SIZE"),
                        help="crop in LR pixels (default: 20 52 48); restoration: in image pixels (default: a centred 200)")
    parser.add_argument("--model", action="append", default=None,
                        help="model name or checkpoint, repeatable: one panel each (default: the embedded classical default)")
    parser.add_argument("--lr-dir", default="LR_bicubic", help="LR folder of the set (default: LR_bicubic)")
    parser.add_argument("--zoom", type=int, default=1, help="extra nearest-neighbour zoom of every panel")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("-o", "--output", type=Path, default=None, help="default: docs/before_after_x<scale>.png")
    args = parser.parse_args(argv)

    from swinsr import Upscaler
    from swinsr.errors import SwinSRError, report_user_error
    from swinsr.imageio import read_image
    from swinsr.imresize import imresize
    from swinsr.zoo import default_model_name, resolve_model

    if args.task != "sr":
        return restoration_picture(args)
    try:
        set_name, _, name = args.image.partition("/")
        data = args.shared / "data" / set_name
        hr = read_image(data / "HR" / f"{name}.png").array
        s = args.scale
        lr = read_image(data / args.lr_dir / f"X{s}" / f"{name}x{s}.png").array
        names = args.model or [default_model_name(s)]
        models = [(Path(n).stem, resolve_model(n, scale=s)) for n in names]
    except SwinSRError as exc:
        return report_user_error(exc)
    top, left, size = args.box or (20, 52, 48)
    panels = [("bicubic", imresize(lr, s))]  # uint8 in, uint8 out: MATLAB's own rounding
    panels += [(label, Upscaler(model, tile=None, device="cpu").upscale(lr)) for label, model in models]
    panels.append(("HR", hr))
    box = (top * s, left * s, size * s)
    return write_picture(panels, box, args.zoom, args.output or REPO / "docs" / f"before_after_x{s}.png")


def restoration_picture(args: argparse.Namespace) -> int:
    """degraded | restored by each model | clean, with the benchmark's degradation and method."""
    from swinsr.errors import SwinSRError, report_user_error
    from swinsr.metrics import calculate_psnr
    from swinsr.restoration_benchmark import RestorationMethod, degrade, quantize, read_clean, to_rgb
    from swinsr.zoo import RESTORATION_DEFAULTS

    task = args.task
    level = args.level if args.level is not None else (25.0 if task == "denoise" else 10.0)
    path = args.shared / "data" / f"{args.image}.png"
    try:
        clean = read_clean(path, task, "rgb")  # BGR, as the protocol reads it
        degraded = degrade(clean, task, level)
        names = args.model or [RESTORATION_DEFAULTS[task]]
        methods = [RestorationMethod(name, task) for name in names]
    except (SwinSRError, OSError) as exc:
        return report_user_error(exc) if isinstance(exc, SwinSRError) else _fail(f"{path}: {getattr(exc, 'strerror', None) or exc}")
    clean_rgb = to_rgb(clean)
    degraded_rgb = to_rgb(quantize(degraded))
    what = f"noise {level:g}" if task == "denoise" else f"JPEG q{level:g}"
    panels = [(f"{what}  {calculate_psnr(degraded_rgb, clean_rgb, 0):.2f} dB", degraded_rgb)]
    for method in methods:
        restored = to_rgb(quantize(method(degraded)))
        panels.append((f"{method.name}  {calculate_psnr(restored, clean_rgb, 0):.2f} dB", restored))
    panels.append(("clean", clean_rgb))
    h, w = clean.shape[:2]
    size = min(200, h, w)
    top, left, size = args.box or ((h - size) // 2, (w - size) // 2, size)
    if top + size > h or left + size > w:
        return _fail(f"--box {top} {left} {size}: outside the {w}x{h} image {path}")
    return write_picture(panels, (top, left, size), args.zoom, args.output or REPO / "docs" / f"before_after_{task}.png")


def write_picture(panels: list, box: tuple[int, int, int], zoom: int, out: Path) -> int:
    """Crop ``box`` (top, left, size in output pixels) of every (label, RGB uint8) panel, label them
    and write the row as PNG, atomically."""
    import cv2
    import numpy as np

    from swinsr.checkpoint import _atomic_write

    top, left, size = box
    columns = []
    for label, image in panels:
        crop = image[top : top + size, left : left + size]
        crop = np.repeat(np.repeat(crop, zoom, 0), zoom, 1)
        bar = np.full((LABEL_HEIGHT, crop.shape[1], 3), 255, np.uint8)
        cv2.putText(bar, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        columns += [np.concatenate([bar, crop]), np.full((LABEL_HEIGHT + crop.shape[0], 6, 3), 255, np.uint8)]
    picture = np.concatenate(columns[:-1], axis=1)
    ok, png = cv2.imencode(".png", np.ascontiguousarray(picture[:, :, ::-1]))
    if not ok:
        return _fail("OpenCV could not encode the picture as PNG")
    _atomic_write(out, lambda tmp: Path(tmp).write_bytes(png.tobytes()))
    print(f"wrote {out} ({picture.shape[1]}x{picture.shape[0]})")
    return 0


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
