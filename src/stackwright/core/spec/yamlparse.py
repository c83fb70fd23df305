"""Parsing YAML text into value trees and node trees (PyYAML). Imported only when a file is
parsed: files read from the spec cache need no YAML library at all."""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from stackwright.core.spec.yamlpos import MERGE_TAG, STR_TAG, TAG, YamlDocument, node_position
from stackwright.errors import Location, SpecError


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
            return STR_TAG
        tag = self._tags.get(value)
        if tag is None:
            tag = self._tags[value] = super().resolve(kind, value, implicit)
        return tag


def compose_nodes(text: str) -> list[yaml.Node]:
    """The node of every document of ``text`` (empty ones included)."""
    return list(yaml.compose_all(text, Loader=_Loader))


def parse_documents(text: str, file: str) -> tuple[list[YamlDocument], list[SpecError]]:
    """Every non-empty document of ``text``; a syntax error ends the file."""
    builder = _TreeBuilder(file)
    documents: list[YamlDocument] = []
    try:
        for index, node in enumerate(yaml.compose_all(text, Loader=_Loader)):
            tree = builder.build(node)
            if tree is not None:
                documents.append(YamlDocument(file, tree, node, index))
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


class _TreeBuilder:
    """Turns composed nodes into dicts, lists and scalars."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[SpecError] = []
        self._constructor = SafeConstructor()

    def build(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return node.value if node.tag == STR_TAG else self._scalar(node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item) for item in node.value]
        return None  # pragma: no cover - PyYAML has no other node types

    def _mapping(self, node: yaml.MappingNode) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        written: dict[Any, yaml.Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            key = key_node.value if key_node.tag == STR_TAG else self._key(key_node)
            if key in written:
                line = written[key].start_mark.line + 1
                self._error(f"duplicate key {key!r}", key_node, hint=f"first at line {line}")
            written[key] = key_node
            out[key] = self.build(value_node)
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
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
        if tag == STR_TAG or tag == TAG + "timestamp":
            return node.value
        if tag == TAG + "int":
            return self._constructor.construct_yaml_int(node)
        if tag == TAG + "bool":
            return self._constructor.construct_yaml_bool(node)
        if tag == TAG + "null":
            return None
        if tag == TAG + "float":
            return self._constructor.construct_yaml_float(node)
        self._error(f"unsupported YAML tag {tag!r}", node, hint="quote the value")
        return node.value

    def _error(self, message: str, node: yaml.Node, hint: str | None = None) -> None:
        line, col = node_position(node)
        self.errors.append(SpecError(message, location=Location(self.file, line, col), hint=hint))
