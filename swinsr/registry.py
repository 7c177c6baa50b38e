"""Name -> class registries, keyed by the ``type:`` strings of YAML option files."""

from __future__ import annotations

from typing import Any, Callable, Iterator, TypeVar

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

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def keys(self) -> list[str]:
        return sorted(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, {self.keys()})"


Factory = Callable[..., Any]
