"""``--model-arg KEY=VALUE``: constructor arguments for what a checkpoint's shapes cannot tell.

Every command that takes ``--model`` declares :data:`MODEL_ARG_OPTION` and passes
:func:`parse_model_args` of its values to :func:`swinsr.zoo.resolve_model` (``overrides=``), which
hands them to :func:`swinsr.load_model`: ``img_range=255`` for a denoiser trained with a
non-standard window, ``conv_scale=0.01``, ... Values are read as YAML scalars or flat lists
(``255``, ``0.5``, ``true``, ``pixelshuffle``, ``[6,6,6]``), so they mean what they would in a
``network_g`` section of an option file. Names are checked by :func:`swinsr.load_model` against
the architecture's constructor (an unknown one is a one-line error listing the allowed names).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import typer
import yaml

from ..errors import OptionError

_EXAMPLE = "e.g. --model-arg img_range=255 or --model-arg depths=[6,6,6,6]"

MODEL_ARG_OPTION: Any = typer.Option(
    None, "--model-arg", metavar="KEY=VALUE",
    help="Constructor argument overriding what the checkpoint's shapes imply (repeatable), e.g. img_range=255, "
    "depths=[6,6]. Values are YAML scalars or lists; `swinsr inspect` shows which values were assumed.",
)


def _scalar(value: Any) -> Any:
    """PyYAML reads ``1e-5`` (no dot) as a string; treat anything ``float()`` takes as a number."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def parse_model_arg(text: str) -> tuple[str, Any]:
    """One ``KEY=VALUE`` -> ``(key, value)``; a malformed one is a one-line :class:`OptionError`."""
    key, sep, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key.isidentifier():
        raise OptionError(f"--model-arg {text!r}: expected KEY=VALUE with KEY a constructor argument name ({_EXAMPLE})")
    if not raw:
        raise OptionError(f"--model-arg {text!r}: no value after '=' ({_EXAMPLE}; 'null' for None)")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        raise OptionError(f"--model-arg {text!r}: {raw!r} is not a YAML scalar or list ({_EXAMPLE})") from None
    if isinstance(value, list):
        if any(isinstance(v, (list, dict)) for v in value):
            raise OptionError(f"--model-arg {text!r}: only flat lists are taken ({_EXAMPLE})")
        return key, [_scalar(v) for v in value]
    if isinstance(value, dict):
        raise OptionError(f"--model-arg {text!r}: give a scalar or a list, not a mapping ({_EXAMPLE})")
    return key, _scalar(value)


def parse_model_args(values: Optional[Sequence[str]]) -> dict[str, Any]:
    """All ``--model-arg`` values -> ``{name: value}``; a name given twice is an :class:`OptionError`."""
    out: dict[str, Any] = {}
    for text in values or ():
        key, value = parse_model_arg(text)
        if key in out:
            raise OptionError(f"--model-arg {key} given twice ({out[key]!r} and {value!r}); keep one")
        out[key] = value
    return out
