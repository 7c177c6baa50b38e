"""Declarative checks for option sections: expected keys, their types, defaults and allowed values.

Kept free of other ``swinsr.train`` imports so datasets, losses and models can declare their
option fields without import cycles.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping

from ..errors import OptionError

REQUIRED = object()
"""Marker default: the key must be present."""

_CHECK_PATHS: contextvars.ContextVar[bool] = contextvars.ContextVar("swinsr_check_paths", default=True)


def paths_checked() -> bool:
    """Whether the option file being parsed must name existing files (``parse_options(check_paths=...)``);
    for checks of paths nested inside option values, which :func:`check_section` does not see."""
    return _CHECK_PATHS.get()


@contextlib.contextmanager
def checking_paths(enabled: bool) -> Iterator[None]:
    """Set :func:`paths_checked` for the duration of a parse."""
    token = _CHECK_PATHS.set(bool(enabled))
    try:
        yield
    finally:
        _CHECK_PATHS.reset(token)


@dataclass(frozen=True)
class Field:
    """One option key: accepted Python ``types``, its ``default`` (or :data:`REQUIRED`), ``choices``.

    ``path='file'|'dir'`` makes the value a filesystem path that must exist (checked only when
    paths are checked, so shipped option files can be validated without their data).
    """

    types: tuple[type, ...]
    default: Any = REQUIRED
    choices: tuple[Any, ...] | None = None
    path: str | None = None
    help: str = ""
    nullable: bool = False


def type_names(types: Iterable[type]) -> str:
    names = {bool: "bool", int: "int", float: "float", str: "string", list: "list", dict: "mapping"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def coerce(value: Any, spec: Field, where: str) -> Any:
    """Return ``value`` converted to the field's type, or raise :class:`OptionError` naming ``where``."""
    if value is None and (spec.nullable or spec.default is None):
        return None
    types = spec.types
    if isinstance(value, bool) and bool not in types:
        raise OptionError(f"{where}: expected {type_names(types)}, got {value!r}")
    if float in types and isinstance(value, (int, str)) and not isinstance(value, bool) and int not in types:
        # YAML reads ``2e-4`` (no dot) as a string; a number written that way is still meant as a number
        try:
            value = float(value)
        except ValueError:
            raise OptionError(f"{where}: expected a number, got {value!r}") from None
    if int in types and isinstance(value, float) and float not in types and value.is_integer():
        value = int(value)
    if int in types and isinstance(value, str) and str not in types:
        try:
            value = int(float(value)) if float(value).is_integer() else value
        except ValueError:
            pass
    if not isinstance(value, types):
        raise OptionError(f"{where}: expected {type_names(types)}, got {value!r} ({type(value).__name__})")
    if spec.choices is not None and value not in spec.choices:
        allowed = ", ".join(map(str, spec.choices))
        raise OptionError(f"{where}: {value!r} is not allowed; allowed: {allowed}")
    return value


def check_path(value: str | None, kind: str, where: str, base: str | os.PathLike | None = None) -> None:
    """Raise :class:`OptionError` unless ``value`` exists as a ``kind`` ('file' or 'dir')."""
    if value is None:
        return
    p = os.path.join(base, value) if base is not None and not os.path.isabs(value) else value
    ok = os.path.isfile(p) if kind == "file" else os.path.isdir(p)
    if not ok:
        what = "file" if kind == "file" else "folder"
        raise OptionError(f"{where}: {what} not found: {value} (resolved to {os.path.abspath(p)})")


def check_section(
    section: Mapping[str, Any] | None,
    fields: Mapping[str, Field],
    where: str,
    *,
    warn: Callable[[str], None],
    check_paths: bool = True,
    extra_ok: Iterable[str] = (),
) -> dict[str, Any]:
    """Validate one option section; returns a copy with defaults filled in.

    Unknown keys are kept but reported through ``warn`` (BasicSR files carry keys swinsr ignores);
    keys in ``extra_ok`` are accepted silently.
    """
    if section is None:
        section = {}
    if not isinstance(section, Mapping):
        raise OptionError(f"{where}: expected a mapping of options, got {section!r}")
    out: dict[str, Any] = dict(section)
    extra = set(extra_ok)
    for key, spec in fields.items():
        name = f"{where}.{key}" if where else key
        if key not in section:
            if spec.default is REQUIRED:
                raise OptionError(f"{name}: missing required option ({type_names(spec.types)}{': ' + spec.help if spec.help else ''})")
            out[key] = spec.default
            continue
        out[key] = coerce(section[key], spec, name)
        if check_paths and spec.path and out[key] is not None:
            check_path(out[key], spec.path, name)
    for key in section:
        if key not in fields and key not in extra:
            warn(f"{where + '.' if where else ''}{key}: unknown option, ignored")
    return out


def fields(**kw: Field) -> dict[str, Field]:
    """Readable constructor for a field table."""
    return dict(kw)


def list_of(kind: type, value: Any, where: str) -> list[Any]:
    """Check that ``value`` is a list of ``kind`` (ints accepted for floats)."""
    if not isinstance(value, (list, tuple)):
        raise OptionError(f"{where}: expected a list, got {value!r}")
    out = []
    for i, v in enumerate(value):
        out.append(coerce(v, Field((kind,)), f"{where}[{i}]"))
    return out


__all__ = ["REQUIRED", "Field", "check_path", "check_section", "checking_paths", "coerce", "fields", "list_of", "paths_checked", "type_names"]
