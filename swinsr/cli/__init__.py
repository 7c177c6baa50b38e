"""Command-line interface: ``swinsr COMMAND --help`` describes each command."""

from __future__ import annotations

import os
import sys

from ..allocator import tune_allocator
from ..errors import SwinSRError
from .app import app, err_console

# Importing a command module registers its command on ``app``; one line per module.
from . import inspect_cmd  # noqa: E402,F401
from . import models_cmd  # noqa: E402,F401
from . import bench_speed_cmd  # noqa: E402,F401
from . import export_cmd  # noqa: E402,F401
from . import upscale_cmd  # noqa: E402,F401
from . import restore_cmd  # noqa: E402,F401
from . import classify_cmd  # noqa: E402,F401
from . import benchmark_cmd  # noqa: E402,F401
from . import train_cmd  # noqa: E402,F401
from . import degrade_cmd  # noqa: E402,F401


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``swinsr`` console script.

    User errors (:class:`swinsr.errors.SwinSRError`) print one line and exit with their code;
    ``--debug`` anywhere on the command line (or ``SWINSR_DEBUG=1``) shows the traceback.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("SWINSR_DEBUG") == "1"
    command = next((a for a in args if not a.startswith("-")), None)
    if command != "bench-speed":
        # reuse freed tensor memory instead of page-faulting it in again (the fast path 3-8% faster
        # on an idle CPU, more under load; see swinsr.allocator); bench-speed chooses with
        # --allocator, for both sides of a comparison
        tune_allocator()
    try:
        app(args=args, prog_name="swinsr", standalone_mode=True)
    except SwinSRError as exc:
        if debug:
            raise
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
