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
