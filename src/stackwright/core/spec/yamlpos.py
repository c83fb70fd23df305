"""YAML text → plain value trees, with the line and column of every field.

PyYAML's composer (the C one when libyaml is present) keeps a mark on every node. The tree is
built from the nodes, and the nodes are kept: a field path such as ``("spec", "ports", 0)`` is
located (1-based line and column) only when an error needs it, which keeps loading fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from stackwright.errors import Location, SpecError

if TYPE_CHECKING:
    import yaml

FieldPath = tuple[str | int, ...]
Position = tuple[int, int]

TAG = "tag:yaml.org,2002:"
MERGE_TAG = TAG + "merge"
STR_TAG = TAG + "str"


class LazyNodes:
    """The text of a file whose trees came from the spec cache: its nodes are composed again
    only if an error needs a position."""

    def __init__(self, text: str) -> None:
        self.text = text

    @cached_property
    def nodes(self) -> list[yaml.Node]:
        from stackwright.core.spec.yamlparse import compose_nodes

        return compose_nodes(self.text)


@dataclass(frozen=True)
class YamlDocument:
    """One document of a file: its value tree, and its node tree that knows positions.

    ``index`` is the document's place among the file's composed documents (empty ones
    included). A document read from the spec cache has no node but ``lazy``, which composes
    the file again on demand, ``kind_at``, where its ``kind`` key is written (every
    resource's location), and ``spec_expressions``, the ``${{ }}`` expressions in its
    ``spec`` (what ``refs.expression_paths`` finds there)."""

    file: str
    tree: Any
    composed: yaml.Node | None = field(default=None, repr=False, compare=False)
    index: int = 0
    lazy: LazyNodes | None = field(default=None, repr=False, compare=False)
    kind_at: Position | None = field(default=None, repr=False, compare=False)
    spec_expressions: tuple[tuple[FieldPath, str | None], ...] | None = field(
        default=None, repr=False, compare=False)

    @property
    def node(self) -> yaml.Node:
        if self.composed is not None:
            return self.composed
        assert self.lazy is not None, "a document has a node or can compose one"
        return self.lazy.nodes[self.index]

    def find(self, path: FieldPath, *, value: bool = False) -> tuple[FieldPath, Position]:
        """The longest prefix of ``path`` written in the document, and where it is written.

        A mapping entry is located at its key, or at its value when ``value`` is set and the
        whole path is written (an error about the value, not the field); a sequence item at
        the item."""
        if self.kind_at is not None and path == _KIND and not value:
            return path, self.kind_at
        node = self.node
        position = node_position(node)
        for depth, part in enumerate(path):
            entry = _child(node, part)
            if entry is None:
                return path[:depth], position
            key_node, node = entry
            position = node_position(key_node)
        return path, node_position(node) if value and path else position

    def location(self, path: FieldPath = (), *, value: bool = False) -> Location:
        """Where ``path`` (or its value) is written, or its nearest written parent."""
        line, col = self.find(path, value=value)[1]
        return Location(self.file, line, col)


_KIND: FieldPath = ("kind",)


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node, yaml.Node] | None:
    """(node to locate, node to descend into) for one step of a path. (Node kinds are told
    by their ``id``, so that locating needs no import of the YAML library.)"""
    if _kind(node) == "sequence":
        if isinstance(part, int) and 0 <= part < len(node.value):
            return node.value[part], node.value[part]
        return None
    if _kind(node) != "mapping":
        return None
    found = None
    for key_node, value_node in node.value:
        if key_node.tag == MERGE_TAG:
            merged = value_node.value if _kind(value_node) == "sequence" else [value_node]
            found = found or next(filter(None, (_child(m, part) for m in merged)), None)
        elif _kind(key_node) == "scalar" and key_node.value == str(part):
            found = (key_node, value_node)
    return found


def _kind(node: yaml.Node) -> str:
    return str(getattr(node, "id", ""))


def field_name(path: FieldPath) -> str:
    return ".".join(map(str, path))


def parse_documents(text: str, file: str) -> tuple[list[YamlDocument], list[SpecError]]:
    """Every non-empty document of ``text``; a syntax error ends the file."""
    from stackwright.core.spec.yamlparse import parse_documents as parse

    return parse(text, file)


def node_position(node: yaml.Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1
