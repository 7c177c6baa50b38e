"""Speed benchmark from a fresh clone: ``python scripts/bench_speed.py --help`` (same as ``swinsr bench-speed``)."""

import sys

from swinsr.cli import main

if __name__ == "__main__":
    main(["bench-speed", *sys.argv[1:]])
