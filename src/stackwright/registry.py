"""Typed registries: plugins register by name; unknown names get a did-you-mean."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from stackwright.errors import RegistryError

T = TypeVar("T")


def did_you_mean(name: str, candidates: list[str] | tuple[str, ...] | set[str]) -> str | None:
    """A hint naming the closest candidate, or None."""
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in candidates}
        if name.lower() in lowered:
            close = [lowered[name.lower()]]
    return f"did you mean {close[0]!r}?" if close else None


class Registry(Generic[T]):
    """A name → plugin map, filled by ``@registry.register(name)`` or by entry points.

    Entry points of ``group`` are loaded lazily, one name at a time, so a spec that uses two
    kinds imports two modules.
    """

    def __init__(self, what: str, group: str | None = None) -> None:
        self.what = what
        self.group = group
        self._items: dict[str, T] = {}
        self._entry_points: dict[str, object] | None = None

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(item: T) -> T:
            self.add(name, item)
            return item

        return decorator

    def add(self, name: str, item: T) -> None:
        if name in self._items and self._items[name] is not item:
            raise RegistryError(f"{self.what} {name!r} is registered twice")
        self._items[name] = item

    def _discoverable(self) -> dict[str, object]:
        if self._entry_points is None:
            # Filled before it is published: another thread (the daemon warms its kinds up
            # while components start) must never see a half-filled map.
            found: dict[str, object] = {}
            if self.group:
                for ep in entry_points(group=self.group):
                    found.setdefault(ep.name, ep)
            self._entry_points = found
        return self._entry_points

    def names(self) -> list[str]:
        return sorted(set(self._items) | set(self._discoverable()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._items or name in self._discoverable())

    def get(self, name: str) -> T:
        item = self._items.get(name)
        if item is not None:
            return item
        ep = self._discoverable().get(name)
        if ep is None:
            hint = did_you_mean(name, self.names())
            raise RegistryError(f"unknown {self.what} {name!r}", hint=hint)
        loaded: T = ep.load()  # type: ignore[attr-defined]
        self._items[name] = loaded
        return loaded

    def load_all(self) -> dict[str, T]:
        return {name: self.get(name) for name in self.names()}

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
