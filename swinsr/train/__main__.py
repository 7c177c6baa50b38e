"""``python -m swinsr.train -opt FILE [...]``, also the torchrun entry point:

    torchrun --nproc_per_node=4 -m swinsr.train -opt options/train/x.yml --launcher pytorch
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m swinsr.train", description="Train from a BasicSR-format YAML option file.")
    p.add_argument("-opt", "--opt", required=True, help="path to the option YAML file")
    p.add_argument("--launcher", choices=["none", "pytorch"], default="none", help="'pytorch' when started by torchrun")
    p.add_argument("--auto_resume", "--auto-resume", action="store_true", help="continue from the newest training state")
    p.add_argument("--debug", action="store_true", help="debug mode: log every iteration, validate and save every 8")
    p.add_argument("--local_rank", "--local-rank", type=int, default=None, help="set by older torch.distributed.launch")
    p.add_argument("--force_yml", "--force-yml", nargs="+", default=[], help="override options: key:sub=value ...")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, train, and turn user errors into a one-line message."""
    from ..errors import SwinSRError, report_user_error
    from .loop import train_pipeline

    args = build_parser().parse_args(argv)
    if args.local_rank is not None:
        os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    try:
        train_pipeline(
            args.opt, auto_resume=args.auto_resume, debug=args.debug, launcher=args.launcher,
            force_yml=args.force_yml, local_rank=args.local_rank,
        )
    except SwinSRError as exc:
        return report_user_error(exc, args.debug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
