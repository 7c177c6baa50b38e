#!/usr/bin/env python
"""Deepen a trained SwinIR / Swin2SR checkpoint into a bigger network that computes the same function.

The added blocks and groups start as identities (see ``swinsr.archs.swinir.grow``), so training
the grown network (``path.pretrain_network_g`` in an option file whose ``network_g.depths`` /
``num_heads`` match) continues from the small network's quality instead of from scratch. The
output is checked against the input network on a random image in float64 before it is written
(atomically; an existing file is not overwritten without ``--force``).

Example::

    python scripts/grow_model.py swinsr/weights/swinsr-dejpeg.safetensors --depths 6,6,6,6,6,6 \
        -o experiments/grown/swinsr-dejpeg-6x6-init.safetensors
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated integers, e.g. 6,6,6,6") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give at least one positive integer per group")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", help="the trained SwinIR / Swin2SR checkpoint (.safetensors / .pth)")
    parser.add_argument("--depths", type=_int_list, required=True, help="blocks per residual group of the grown network, e.g. 6,6,6,6,6,6")
    parser.add_argument("--num-heads", type=_int_list, default=None, help="heads per group (default: the old groups', new groups the last one's)")
    parser.add_argument("-o", "--output", required=True, help="where to write the grown checkpoint (.safetensors / .pth)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")
    args = parser.parse_args(argv)

    import torch

    from swinsr.archs.swinir import SwinSRBase
    from swinsr.archs.swinir.grow import grow_depth
    from swinsr.checkpoint import load_model, save_checkpoint
    from swinsr.errors import SwinSRError

    out = Path(args.output)
    if out.suffix.lower() not in (".safetensors", ".pth", ".pt"):
        print(f"error: -o {out}: give a .safetensors, .pth or .pt file name", file=sys.stderr)
        return 2
    if out.exists() and not args.force:
        print(f"error: {out} exists; pass --force to overwrite it or choose another -o", file=sys.stderr)
        return 2
    if Path(args.weights).resolve() == out.resolve():
        print(f"error: -o {out} is the input checkpoint; write the grown network elsewhere", file=sys.stderr)
        return 2
    try:
        model = load_model(args.weights)
    except (SwinSRError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not isinstance(model, SwinSRBase):
        print(f"error: {args.weights}: a {type(model).__name__}; only SwinIR / Swin2SR networks can be grown", file=sys.stderr)
        return 2
    try:
        grown = grow_depth(model, args.depths, args.num_heads)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    # the promise of the tool, checked on this very network before anything is written
    small, big = model.double().eval(), grown.double().eval()
    window = model.window_size
    x = torch.rand(1, model.in_chans, 3 * window + 3, 2 * window + 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        diff = (small(x) - big(x)).abs().max().item()
    if diff > 1e-9:
        print(f"error: the grown network differs from {args.weights} by {diff:.3g}; not written", file=sys.stderr)
        return 1
    try:
        save_checkpoint(grown.float(), out)
    except (SwinSRError, OSError) as e:
        print(f"error: -o {out}: cannot write it ({e})", file=sys.stderr)
        return 2
    n_old, n_new = (sum(p.numel() for p in m.parameters()) for m in (model, grown))
    print(f"{out}: depths {model.config['depths']} -> {args.depths}, {n_old / 1e6:.3f}M -> {n_new / 1e6:.3f}M parameters "
          f"(max difference {diff:.1e} in float64)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
