"""Phase 1: files → documents → resources whose shape is right (keys, names, duplicates)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from stackwright.core.model import Address
from stackwright.core.spec.cache import SpecCache
from stackwright.core.spec.config import CONFIG_FILE, show
from stackwright.core.spec.refs import NAME_PATTERN
from stackwright.core.spec.yamlpos import FieldPath, YamlDocument, field_name, parse_documents
from stackwright.errors import Location, SpecError
from stackwright.registry import did_you_mean

STATE_DIR = ".stackwright"
TOP_KEYS = ("apiVersion", "kind", "metadata", "spec", "dependsOn")
METADATA_KEYS = ("name", "labels")
_NAME = re.compile(NAME_PATTERN)
_ADDRESS = re.compile(rf"([A-Z][A-Za-z0-9]*)/({NAME_PATTERN})")
_SUFFIXES = (".yaml", ".yml")


class Resource(NamedTuple):
    """A resource document whose structure is valid; ``spec`` is still raw. (A named tuple:
    one is made for every document of every load.)"""

    address: Address
    api_version: str
    spec: Mapping[str, Any]
    document: YamlDocument
    location: Location
    labels: Mapping[str, str] = {}
    depends_on: tuple[tuple[Address, FieldPath], ...] = ()


ParsedFile = tuple[str, str, list[YamlDocument]]
"""A spec file parsed (not read from the cache): its name, its text and its documents."""


@dataclass(frozen=True)
class Structure:
    """What phase 1 found: valid resources, every address named, and whether all files parsed.

    ``fresh`` are the files parsed without error and ``cached`` those read from ``cache``:
    the loader updates the cache once it knows which files hold sensitive values."""

    resources: list[Resource]
    errors: list[SpecError]
    named: frozenset[Address]
    complete: bool
    fresh: tuple[ParsedFile, ...] = ()
    cached: frozenset[str] = frozenset()
    cache: SpecCache | None = None


def spec_files(root: Path) -> list[Path]:
    """Every YAML file of the project but the config, skipping hidden and state directories."""
    found: list[tuple[str, Path]] = []
    for current, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != STATE_DIR]
        base = Path(current)
        for name in files:
            if name.endswith(_SUFFIXES) and not name.startswith("."):
                path = base / name
                rel = path.relative_to(root).as_posix()
                if rel != CONFIG_FILE:
                    found.append((rel, path))
    return [path for _, path in sorted(found)]


def read_spec_files(root: Path) -> tuple[list[tuple[str, str]], list[SpecError]]:
    """The (path, text) of every spec file of ``root``, and the files that cannot be read."""
    texts: list[tuple[str, str]] = []
    errors: list[SpecError] = []
    for path in spec_files(root):
        rel = path.relative_to(root).as_posix()
        try:
            texts.append((rel, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(SpecError(f"cannot read file: {exc}", location=Location(rel)))
    return texts, errors


def read_structure(
    root: Path,
    *,
    cache: bool = True,
    files: tuple[list[tuple[str, str]], list[SpecError]] | None = None,
) -> Structure:
    """Phase 1 over every spec file of ``root`` (or over ``files``, as ``read_spec_files``
    returns them); with ``cache``, files unchanged since they were last parsed are read from
    the spec cache."""
    checker = _StructureChecker()
    texts, unreadable = files if files is not None else read_spec_files(root)
    checker.errors.extend(unreadable)
    complete = not unreadable
    spec_cache = SpecCache(root) if cache and SpecCache.enabled() else None
    fresh: list[ParsedFile] = []
    cached: set[str] = set()
    for rel, text in texts:
        documents = spec_cache.get(rel, text) if spec_cache is not None else None
        if documents is not None:
            cached.add(rel)
        else:
            documents, errors = parse_documents(text, rel)
            checker.errors.extend(errors)
            complete = complete and not errors
            if not errors:
                fresh.append((rel, text, documents))
        for document in documents:
            checker.check(document)
    return Structure(checker.resources, checker.errors, frozenset(checker.first), complete,
                     tuple(fresh), frozenset(cached), spec_cache)


class _StructureChecker:
    def __init__(self) -> None:
        self.resources: list[Resource] = []
        self.errors: list[SpecError] = []
        self.first: dict[Address, Location] = {}

    def error(
        self,
        doc: YamlDocument,
        path: FieldPath,
        message: str,
        hint: str | None = None,
        *,
        value: bool = True,
    ) -> None:
        """An error about the value at ``path`` (or, with ``value=False``, about the field)."""
        location = doc.location(path, value=value)
        field = field_name(path) or None
        self.errors.append(SpecError(message, location=location, field=field, hint=hint))

    def check(self, doc: YamlDocument) -> None:
        tree = doc.tree
        if not isinstance(tree, dict):
            message = "a document must be a mapping with apiVersion, kind, metadata and spec"
            self.error(doc, (), message)
            return
        before = len(self.errors)
        for key in tree:
            if key not in TOP_KEYS:
                hint = did_you_mean(str(key), TOP_KEYS) or f"allowed: {', '.join(TOP_KEYS)}"
                self.error(doc, (key,), f"unknown field {key!r}", hint, value=False)
        api_version = self.required_string(doc, "apiVersion")
        kind = self.required_string(doc, "kind")
        name, labels = self.metadata(doc, tree.get("metadata"))
        spec = self.spec(doc, tree.get("spec"))
        depends_on = self.depends_on(doc, tree.get("dependsOn"))
        if kind is None or name is None:
            return
        address = Address(kind, name)
        location = doc.location(("kind",))
        if self.duplicate(doc, address, location) or len(self.errors) > before:
            return
        assert api_version is not None and spec is not None
        resource = Resource(address, api_version, spec, doc, location, labels, depends_on)
        self.resources.append(resource)

    def required_string(self, doc: YamlDocument, key: str) -> str | None:
        value = doc.tree.get(key)
        if value is None:
            self.error(doc, (), f"{key} is required")
            return None
        if not isinstance(value, str) or not value:
            self.error(doc, (key,), f"expected a string, got {show(value)}")
            return None
        return value

    def metadata(self, doc: YamlDocument, meta: Any) -> tuple[str | None, dict[str, str]]:
        if meta is None:
            self.error(doc, (), "metadata is required", "add `metadata: {name: ...}`")
            return None, {}
        if not isinstance(meta, dict):
            self.error(doc, ("metadata",), f"expected a mapping, got {show(meta)}")
            return None, {}
        for key in meta:
            if key not in METADATA_KEYS:
                hint = did_you_mean(str(key), METADATA_KEYS) or "allowed: name, labels"
                self.error(doc, ("metadata", key), f"unknown field {key!r}", hint, value=False)
        return self.name(doc, meta.get("name")), self.labels(doc, meta.get("labels"))

    def name(self, doc: YamlDocument, name: Any) -> str | None:
        if name is None:
            self.error(doc, ("metadata",), "metadata.name is required", value=False)
            return None
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            hint = "use lowercase letters, digits, '-' and '_'; start and end alphanumeric"
            self.error(doc, ("metadata", "name"), f"invalid name {show(name)}", hint)
            return None
        return name

    def labels(self, doc: YamlDocument, labels: Any) -> dict[str, str]:
        if labels is None:
            return {}
        if not isinstance(labels, dict):
            self.error(doc, ("metadata", "labels"), f"expected a mapping, got {show(labels)}")
            return {}
        out: dict[str, str] = {}
        for key, value in labels.items():
            if isinstance(value, dict | list) or value is None:
                path: FieldPath = ("metadata", "labels", key)
                self.error(doc, path, f"a label value must be a string, got {show(value)}")
            else:
                out[str(key)] = show(value) if isinstance(value, bool) else str(value)
        return out

    def spec(self, doc: YamlDocument, spec: Any) -> dict[str, Any] | None:
        if spec is None:
            return {}
        if not isinstance(spec, dict):
            self.error(doc, ("spec",), f"expected a mapping, got {show(spec)}")
            return None
        return spec

    def depends_on(self, doc: YamlDocument, value: Any) -> tuple[tuple[Address, FieldPath], ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.error(doc, ("dependsOn",), f"expected a list of Kind/name, got {show(value)}")
            return ()
        out: list[tuple[Address, FieldPath]] = []
        for i, item in enumerate(value):
            match = _ADDRESS.fullmatch(item) if isinstance(item, str) else None
            if match is None:
                message = f"not a resource address: {show(item)}"
                self.error(doc, ("dependsOn", i), message, "write it as Kind/name")
            else:
                out.append((Address(match.group(1), match.group(2)), ("dependsOn", i)))
        return tuple(out)

    def duplicate(self, doc: YamlDocument, address: Address, location: Location) -> bool:
        first = self.first.setdefault(address, location)
        if first is location:
            return False
        self.error(
            doc, ("metadata", "name"), f"{address} is declared twice", f"first declared at {first}"
        )
        return True
