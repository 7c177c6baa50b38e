#!/usr/bin/env python
"""Draw the README's before/after pictures: bicubic | swinsr model(s) | HR on a test-set crop.

Uses a shared LR image (the benchmark's input: MATLAB bicubic, or another ``--lr-dir`` such as the
Real-ESRGAN-degraded ``LR_realesrgan``), ``swinsr.imresize`` for the bicubic panel and the
embedded classical default for the scale (or ``--model``, repeatable for several panels), so the
picture always shows what those models give. Written atomically.

Example::

    python scripts/make_before_after.py                      # docs/before_after_x4.png
    python scripts/make_before_after.py --image Set5/butterfly --box 60 40 48
    python scripts/make_before_after.py --image Set14_realx4/comic --lr-dir LR_realesrgan \
        --model swinsr-light-x4 --model swinsr-real-x4 -o docs/before_after_real_x4.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LABEL_HEIGHT = 22


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default="Set14/zebra", help="SET/NAME under <shared>/data (default: Set14/zebra)")
    parser.add_argument("--scale", type=int, default=4, choices=(2, 3, 4))
    parser.add_argument("--box", type=int, nargs=3, default=(20, 52, 48), metavar=("TOP", "LEFT", "SIZE"),
                        help="crop in LR pixels (default: 20 52 48)")
    parser.add_argument("--model", action="append", default=None,
                        help="model name or checkpoint, repeatable: one panel each (default: the embedded classical default)")
    parser.add_argument("--lr-dir", default="LR_bicubic", help="LR folder of the set (default: LR_bicubic)")
    parser.add_argument("--zoom", type=int, default=1, help="extra nearest-neighbour zoom of every panel")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("-o", "--output", type=Path, default=None, help="default: docs/before_after_x<scale>.png")
    args = parser.parse_args(argv)

    import cv2
    import numpy as np

    from swinsr import Upscaler
    from swinsr.checkpoint import _atomic_write
    from swinsr.errors import SwinSRError, report_user_error
    from swinsr.imageio import read_image
    from swinsr.imresize import imresize
    from swinsr.zoo import default_model_name, resolve_model

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
    top, left, size = args.box
    panels = [("bicubic", imresize(lr, s))]  # uint8 in, uint8 out: MATLAB's own rounding
    panels += [(label, Upscaler(model, tile=None, device="cpu").upscale(lr)) for label, model in models]
    panels.append(("HR", hr))
    columns = []
    for label, image in panels:
        crop = image[top * s : (top + size) * s, left * s : (left + size) * s]
        crop = np.repeat(np.repeat(crop, args.zoom, 0), args.zoom, 1)
        bar = np.full((LABEL_HEIGHT, crop.shape[1], 3), 255, np.uint8)
        cv2.putText(bar, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        columns += [np.concatenate([bar, crop]), np.full((LABEL_HEIGHT + crop.shape[0], 6, 3), 255, np.uint8)]
    picture = np.concatenate(columns[:-1], axis=1)
    ok, png = cv2.imencode(".png", np.ascontiguousarray(picture[:, :, ::-1]))
    if not ok:
        print("error: OpenCV could not encode the picture as PNG", file=sys.stderr)
        return 1
    out = args.output or REPO / "docs" / f"before_after_x{s}.png"
    _atomic_write(out, lambda tmp: Path(tmp).write_bytes(png.tobytes()))
    print(f"wrote {out} ({picture.shape[1]}x{picture.shape[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
