"""Value trees (JSON-like) and the markers the planner puts in them.

``UNKNOWN`` stands for a value that is only known after apply (an output of a resource that
is still to be created). Sensitive values are found by dotted field paths (``env.PASSWORD``)
and never rendered or stored in clear text.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator
from typing import Any, Final

SENSITIVE_TEXT: Final = "(sensitive)"
SOURCES_KEY: Final = "$sources"
"""Inputs key holding the digest of files a resource is built from (an Image's context):
set by the engine, diffed by the planner, recorded in state, never passed to drivers."""
UNKNOWN_TEXT: Final = "(known after apply)"


class _Unknown:
    """The single value that will be known after apply."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return UNKNOWN_TEXT

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()

Tree = Any  # dict[str, Tree] | list[Tree] | str | int | float | bool | None | _Unknown


def contains_unknown(value: Tree) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        values: Any = value.values()
    elif isinstance(value, list):
        values = value
    else:
        return False
    for item in values:  # a loop, not any(): the planner asks this of every resource
        if item is UNKNOWN or (isinstance(item, dict | list) and contains_unknown(item)):
            return True
    return False


def split_path(path: str) -> list[str]:
    return path.split(".") if path else []


def get_path(tree: Tree, path: str, default: Any = None) -> Any:
    node = tree
    for part in split_path(path):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return default
    return node


def set_path(tree: dict[str, Any], path: str, value: Any) -> None:
    parts = split_path(path)
    node: Any = tree
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def has_path(tree: Tree, path: str) -> bool:
    sentinel = object()
    return get_path(tree, path, sentinel) is not sentinel


def leaf_paths(tree: Tree, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every (dotted path, leaf value) of a tree; empty dicts and lists are leaves."""
    if isinstance(tree, dict) and tree:
        for key in sorted(tree):
            yield from leaf_paths(tree[key], f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(tree, list) and tree:
        for i, item in enumerate(tree):
            yield from leaf_paths(item, f"{prefix}.{i}" if prefix else str(i))
    else:
        yield prefix, tree


def is_sensitive(path: str, sensitive: Iterable[str]) -> bool:
    """A path is sensitive when it, or a parent of it, is marked sensitive."""
    return any(path == s or path.startswith(s + ".") for s in sensitive)


def touches_sensitive(path: str, sensitive: Iterable[str]) -> bool:
    """A value at ``path`` holds something sensitive: the path, a parent or a part of it
    (``secrets`` holds ``secrets.0.value``) is marked sensitive."""
    return any(path == s or path.startswith(s + ".") or s.startswith(path + ".")
               for s in sensitive)


def mask(tree: Tree, sensitive: Iterable[str], prefix: str = "") -> Tree:
    """A copy of ``tree`` whose sensitive parts read ``(sensitive)``."""
    marked = tuple(sensitive)
    if not marked:
        return tree
    if prefix and is_sensitive(prefix, marked):
        return SENSITIVE_TEXT
    if isinstance(tree, dict):
        return {k: mask(v, marked, f"{prefix}.{k}" if prefix else k) for k, v in tree.items()}
    if isinstance(tree, list):
        return [mask(v, marked, f"{prefix}.{i}" if prefix else str(i)) for i, v in enumerate(tree)]
    return tree


def deep_copy(tree: Tree) -> Tree:
    return copy.deepcopy(tree)


def canonical_json(tree: Tree) -> str:
    """Stable JSON for hashing and comparing; UNKNOWN becomes a marker object."""
    return json.dumps(tree, sort_keys=True, separators=(",", ":"), default=_encode_marker)


def _encode_marker(value: Any) -> Any:
    if value is UNKNOWN:
        return {"$unknown": True}
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def to_jsonable(tree: Tree) -> Any:
    """UNKNOWN → {"$unknown": true}, for plan files."""
    if tree is UNKNOWN:
        return {"$unknown": True}
    if isinstance(tree, dict):
        return {k: to_jsonable(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [to_jsonable(v) for v in tree]
    return tree


def from_jsonable(tree: Any) -> Tree:
    if isinstance(tree, dict):
        if tree == {"$unknown": True}:
            return UNKNOWN
        return {k: from_jsonable(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [from_jsonable(v) for v in tree]
    return tree


def spec_fields(inputs: Any) -> dict[str, Any]:
    """The inputs without the engine's own ``$`` keys: what a kind's spec model reads."""
    return {k: v for k, v in dict(inputs).items() if not str(k).startswith("$")}
