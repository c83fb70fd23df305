"""A plan's input document handed to rego-cpp as a built value, fast.

``regopy.Input(value)`` builds the value node by node through ctypes; this does the same calls
(``regoInputString``, ``regoInputObject``, ...) with less Python around each: one type
dispatch per node, strings encoded once per distinct string (a plan's keys, kinds and actions
repeat on every change) and passed as bytes. The result is a ``regopy.Input``, so regopy frees
it as usual. Setting the input as a JSON term instead is about ten times slower: rego-cpp
parses the text through its whole rewriting pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

_OK = 0


def build_input(value: Any) -> Any:
    """``value`` (JSON-like: dicts with string keys, lists, tuples, sets, scalars) as a
    ``regopy.Input``."""
    from regopy import Input
    from regopy.rego_shared import RegoError, rego, rego_free_input, rego_new_input

    handle = rego_new_input()
    try:
        _Builder(rego, handle).add(value)
    except (RegoError, ValueError):
        rego_free_input(handle)
        raise
    built: Any = Input.__new__(Input)
    built._impl = handle
    return built


class _Builder:
    """Pushes one value's nodes onto an input handle (rego-cpp's input is a stack)."""

    def __init__(self, lib: Any, handle: Any) -> None:
        self.handle = handle
        self.encoded: dict[str, bytes] = {}
        self._str = lib.regoInputString
        self._int = lib.regoInputInt
        self._float = lib.regoInputFloat
        self._bool = lib.regoInputBoolean
        self._null = lib.regoInputNull
        self._item = lib.regoInputObjectItem
        self._object = lib.regoInputObject
        self._array = lib.regoInputArray
        self._set = lib.regoInputSet
        self._by_type: dict[type, Callable[[Any], None]] = {
            str: self.add_str, bool: self.add_bool, int: self.add_int, float: self.add_float,
            dict: self.add_mapping, list: self.add_list, tuple: self.add_list,
            set: self.add_set, frozenset: self.add_set, type(None): self.add_null,
        }

    def add(self, value: Any) -> None:
        adder = self._by_type.get(type(value))
        if adder is None:
            adder = self._fallback(value)
        adder(value)

    def _fallback(self, value: Any) -> Callable[[Any], None]:
        """Subclasses (an IntEnum, an OrderedDict, a str enum): by what they are."""
        for kind in (bool, str, int, float):
            if isinstance(value, kind):
                return lambda v: self._by_type[kind](kind(v))
        if isinstance(value, Mapping):
            return self.add_mapping
        if isinstance(value, (list, tuple)):
            return self.add_list
        raise ValueError(f"cannot hand a {type(value).__name__} to Rego as input")

    def add_str(self, value: str) -> None:
        data = self.encoded.get(value)
        if data is None:
            data = self.encoded[value] = value.encode()
        self._check(self._str(self.handle, data))

    def add_bool(self, value: bool) -> None:
        self._check(self._bool(self.handle, value))

    def add_int(self, value: int) -> None:
        self._check(self._int(self.handle, value))

    def add_float(self, value: float) -> None:
        self._check(self._float(self.handle, value))

    def add_null(self, _: None) -> None:
        self._check(self._null(self.handle))

    def add_mapping(self, value: Mapping[Any, Any]) -> None:
        for key, item in value.items():
            self.add_str(str(key))
            self.add(item)
            self._check(self._item(self.handle))
        self._check(self._object(self.handle, len(value)))

    def add_list(self, value: list[Any] | tuple[Any, ...]) -> None:
        for item in value:
            self.add(item)
        self._check(self._array(self.handle, len(value)))

    def add_set(self, value: set[Any] | frozenset[Any]) -> None:
        for item in value:
            self.add(item)
        self._check(self._set(self.handle, len(value)))

    @staticmethod
    def _check(code: int) -> None:
        if code != _OK:
            from regopy.rego_shared import RegoError

            raise RegoError("Unable to create input", code)


__all__ = ["build_input"]
