"""User-facing errors: the CLI prints their message as one line, without a traceback."""


class SwinSRError(Exception):
    """Base class of errors caused by user input (files, options); ``exit_code`` for the CLI."""

    exit_code = 2


class CheckpointError(SwinSRError):
    """A file that is not a loadable checkpoint, or one swinsr cannot map to an architecture."""


class OptionError(SwinSRError):
    """A bad option file, option value or command-line argument."""


class ImageError(SwinSRError):
    """An image that cannot be read or written."""

    exit_code = 1


class ExportError(SwinSRError):
    """A model the ONNX exporter could not convert (e.g. an operator it does not support)."""

    exit_code = 1


def report_user_error(exc: SwinSRError, debug: bool = False) -> int:
    """Print ``exc`` as one ``error:`` line on stderr and return its exit code (scripts' ``main``).

    With ``debug`` (or ``SWINSR_DEBUG=1``) the exception is re-raised so the traceback shows.
    """
    import os
    import sys

    if debug or os.environ.get("SWINSR_DEBUG") == "1":
        raise exc
    print(f"error: {exc}", file=sys.stderr)
    return exc.exit_code
