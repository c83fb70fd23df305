"""YAML text → plain value trees, with the line and column of every field.

PyYAML's composer (the C one when libyaml is present) keeps a mark on every node. The tree is
built from the nodes, and the nodes are kept: a field path such as ``("spec", "ports", 0)`` is
located (1-based line and column) only when an error needs it, which keeps loading fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from stackwright.errors import Location, SpecError

FieldPath = tuple[str | int, ...]
Position = tuple[int, int]

_T = "tag:yaml.org,2002:"
_MERGE = _T + "merge"
_STR = _T + "str"


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader, remembering the tag of each plain scalar it has resolved: resolving
    runs regexes in Python, and spec files repeat the same keys and values."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._tags: dict[str, str] = {}

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is not yaml.ScalarNode:
            return str(super().resolve(kind, value, implicit))
        if not implicit[0]:
            return _STR
        tag = self._tags.get(value)
        if tag is None:
            tag = self._tags[value] = super().resolve(kind, value, implicit)
        return tag


@dataclass(frozen=True)
class YamlDocument:
    """One document of a file: its value tree, and its node tree that knows positions."""

    file: str
    tree: Any
    node: yaml.Node = field(repr=False, compare=False)

    def find(self, path: FieldPath, *, value: bool = False) -> tuple[FieldPath, Position]:
        """The longest prefix of ``path`` written in the document, and where it is written.

        A mapping entry is located at its key, or at its value when ``value`` is set and the
        whole path is written (an error about the value, not the field); a sequence item at
        the item."""
        node = self.node
        position = _position(node)
        for depth, part in enumerate(path):
            entry = _child(node, part)
            if entry is None:
                return path[:depth], position
            key_node, node = entry
            position = _position(key_node)
        return path, _position(node) if value and path else position

    def location(self, path: FieldPath = (), *, value: bool = False) -> Location:
        """Where ``path`` (or its value) is written, or its nearest written parent."""
        line, col = self.find(path, value=value)[1]
        return Location(self.file, line, col)


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node, yaml.Node] | None:
    """(node to locate, node to descend into) for one step of a path."""
    if isinstance(node, yaml.SequenceNode):
        if isinstance(part, int) and 0 <= part < len(node.value):
            return node.value[part], node.value[part]
        return None
    if not isinstance(node, yaml.MappingNode):
        return None
    found = None
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE:
            merged = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            found = found or next(filter(None, (_child(m, part) for m in merged)), None)
        elif isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
            found = (key_node, value_node)
    return found


def field_name(path: FieldPath) -> str:
    return ".".join(str(p) for p in path)


def parse_documents(text: str, file: str) -> tuple[list[YamlDocument], list[SpecError]]:
    """Every non-empty document of ``text``; a syntax error ends the file."""
    builder = _TreeBuilder(file)
    documents: list[YamlDocument] = []
    try:
        for node in yaml.compose_all(text, Loader=_Loader):
            tree = builder.build(node)
            if tree is not None:
                documents.append(YamlDocument(file, tree, node))
    except yaml.MarkedYAMLError as exc:
        builder.errors.append(_syntax_error(exc, file))
    except yaml.YAMLError as exc:
        builder.errors.append(SpecError(f"invalid YAML: {exc}", location=Location(file)))
    except RecursionError:
        message = "YAML nesting is too deep, or an alias refers to itself"
        builder.errors.append(SpecError(message, location=Location(file)))
    return documents, builder.errors


def _syntax_error(exc: yaml.MarkedYAMLError, file: str) -> SpecError:
    mark = exc.problem_mark or exc.context_mark
    location = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
    problem = exc.problem or exc.context or "cannot be parsed"
    hint = exc.context if exc.context and exc.problem else None
    return SpecError(f"invalid YAML: {problem}", location=location, hint=hint)


def _position(node: yaml.Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _TreeBuilder:
    """Turns composed nodes into dicts, lists and scalars."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[SpecError] = []
        self._constructor = SafeConstructor()

    def build(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return node.value if node.tag == _STR else self._scalar(node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item) for item in node.value]
        return None  # pragma: no cover - PyYAML has no other node types

    def _mapping(self, node: yaml.MappingNode) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        written: dict[Any, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                continue
            key = key_node.value if key_node.tag == _STR else self._key(key_node)
            if key in written:
                line = written[key].start_mark.line + 1
                self._error(f"duplicate key {key!r}", key_node, hint=f"first at line {line}")
            written[key] = key_node
            out[key] = self.build(value_node)
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self._merge(out, value_node)
        return out

    def _merge(self, out: dict[Any, Any], node: yaml.Node) -> None:
        """Keys written in the mapping win over merged ones."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                self._error("a merge key (<<) takes a mapping or a list of mappings", source)
                continue
            for key, value in self._mapping(source).items():
                out.setdefault(key, value)

    def _key(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            self._error("a mapping key must be a plain value", node)
            return None
        return self._scalar(node)

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        tag = node.tag
        if tag == _STR or tag == _T + "timestamp":
            return node.value
        if tag == _T + "int":
            return self._constructor.construct_yaml_int(node)
        if tag == _T + "bool":
            return self._constructor.construct_yaml_bool(node)
        if tag == _T + "null":
            return None
        if tag == _T + "float":
            return self._constructor.construct_yaml_float(node)
        self._error(f"unsupported YAML tag {tag!r}", node, hint="quote the value")
        return node.value

    def _error(self, message: str, node: yaml.Node, hint: str | None = None) -> None:
        line, col = _position(node)
        self.errors.append(SpecError(message, location=Location(self.file, line, col), hint=hint))
