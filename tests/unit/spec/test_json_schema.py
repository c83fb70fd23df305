"""The JSON Schema editors read, generated from the kinds."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stackwright.core.kinds import Kind
from stackwright.core.spec.schema import DIALECT, json_schema
from stackwright.registry import Registry


def test_schema_covers_every_kind(kinds: Registry[Kind]) -> None:
    schema = json_schema(kinds)
    json.dumps(schema)  # serialisable as it is
    assert schema["$schema"] == DIALECT
    assert schema["properties"]["kind"] == {"enum": ["Command", "File"]}
    branches = {b["if"]["properties"]["kind"]["const"]: b["then"] for b in schema["allOf"]}
    assert set(branches) == {"Command", "File"}
    assert branches["File"]["properties"]["spec"] == {"$ref": "#/$defs/File"}
    assert branches["File"]["properties"]["apiVersion"] == {"const": "stackwright.dev/v1"}


def test_every_ref_resolves(kinds: Registry[Kind]) -> None:
    schema = json_schema(kinds)
    refs = set(_refs(schema))
    assert "#/$defs/File.Owner" in refs
    for ref in refs:
        assert ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") in schema["$defs"]


def test_spec_fields_accept_expressions(kinds: Registry[Kind]) -> None:
    command = json_schema(kinds)["$defs"]["Command"]
    assert command["additionalProperties"] is False
    assert command["required"] == ["create"]
    timeout = command["properties"]["timeout"]
    assert {"$ref": "#/$defs/expression"} in timeout["anyOf"]
    assert timeout["default"] == 60


def test_schema_validates_documents_when_jsonschema_is_present(kinds: Registry[Kind]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json_schema(kinds)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    good = {
        "apiVersion": "stackwright.dev/v1",
        "kind": "File",
        "metadata": {"name": "a"},
        "spec": {"path": "x", "mode": "${{ var.m }}"},
    }
    assert list(validator.iter_errors(good)) == []
    bad = {**good, "spec": {"pth": "x"}}
    assert list(validator.iter_errors(bad))


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []
