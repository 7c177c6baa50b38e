"""Name -> class registries, keyed by the ``type:`` strings of YAML option files."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Iterator, Mapping, TypeVar

T = TypeVar("T")


class Registry:
    """A small BasicSR-style registry: ``@REG.register()`` a class, ``REG.get(name)`` it back."""

    def __init__(self, name: str):
        self.name = name
        self._items: dict[str, Any] = {}

    def register(self, obj: T | None = None, *, name: str | None = None) -> Any:
        """Register ``obj`` under ``name`` (default: its ``__name__``); usable as a decorator."""

        def add(o: T) -> T:
            key = name or o.__name__  # type: ignore[attr-defined]
            if key in self._items and self._items[key] is not o:
                raise KeyError(f"{key!r} is already registered in the {self.name} registry")
            self._items[key] = o
            return o

        return add(obj) if obj is not None else add

    def get(self, name: str) -> Any:
        """Look ``name`` up; an unknown name raises ``KeyError`` listing the allowed ones."""
        try:
            return self._items[name]
        except KeyError:
            allowed = ", ".join(sorted(self._items)) or "(none)"
            raise KeyError(f"unknown {self.name} type {name!r}; allowed: {allowed}") from None

    def build(self, name: str, **kwargs: Any) -> Any:
        """Instantiate the registered ``name`` with ``kwargs``."""
        return self.get(name)(**kwargs)

    def build_from_options(self, opt: Mapping[str, Any], where: str) -> Any:
        """Instantiate ``opt['type']`` with the other keys of an option-file section.

        A missing or unknown type, an argument the class does not take, or a value it rejects
        raises :class:`~swinsr.errors.OptionError` naming ``where`` and what is allowed.
        """
        from .errors import OptionError

        if not isinstance(opt, Mapping) or "type" not in opt:
            raise OptionError(f"{where}.type: missing; allowed: {', '.join(self.keys())}")
        try:
            cls = self.get(opt["type"])
        except KeyError as exc:
            raise OptionError(f"{where}.type: {exc.args[0]}") from None
        kwargs = {k: v for k, v in opt.items() if k != "type"}
        check_arguments(cls, kwargs, where, opt["type"])
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise OptionError(f"{where}: {exc}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def keys(self) -> list[str]:
        return sorted(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, {self.keys()})"


Factory = Callable[..., Any]


def check_arguments(cls: type, kwargs: Mapping[str, Any], where: str, name: str, hidden: tuple[str, ...] = ("self",)) -> None:
    """Raise :class:`~swinsr.errors.OptionError` when ``kwargs`` has keys ``cls.__init__`` does not take."""
    from .errors import OptionError

    params = inspect.signature(cls.__init__).parameters
    unknown = [k for k in kwargs if k not in params]
    if unknown:
        allowed = ", ".join(p for p in params if p not in hidden)
        raise OptionError(f"{where}: unknown option(s) {', '.join(unknown)} for {name}; allowed: {allowed}")
