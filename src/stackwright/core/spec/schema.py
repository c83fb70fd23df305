"""The JSON Schema (draft 2020-12) of resource documents, generated from the kinds.

One schema covers every kind: ``kind`` selects, through ``if``/``then``, the ``apiVersion``
and the ``spec`` model of that kind. Any property may also hold a ``${{ ... }}`` expression,
whose value is only known when the spec is rendered. Editors read it through
yaml-language-server (``# yaml-language-server: $schema=...``).
"""

from __future__ import annotations

from typing import Any

from stackwright.core.kinds import Kind
from stackwright.core.spec.refs import NAME_PATTERN
from stackwright.core.spec.structure import METADATA_KEYS
from stackwright.registry import Registry

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "https://stackwright.dev/schema/v1/resource.json"
_EXPRESSION_REF = {"$ref": "#/$defs/expression"}
_HOISTED = ("title", "description", "default", "examples", "deprecated")


def json_schema(kinds: Registry[Kind]) -> dict[str, Any]:
    """The schema of a resource document, for every kind ``kinds`` knows."""
    loaded = kinds.load_all()
    defs: dict[str, Any] = {"expression": _expression()}
    branches = []
    for name, kind in loaded.items():
        defs.update(_spec_defs(name, kind))
        branches.append(_branch(name, kind))
    return {
        "$schema": DIALECT,
        "$id": SCHEMA_ID,
        "title": "Stackwright resource",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata"],
        "additionalProperties": False,
        "properties": _envelope(sorted(loaded)),
        "allOf": branches,
        "$defs": defs,
    }


def _envelope(kind_names: list[str]) -> dict[str, Any]:
    name = {"type": "string", "pattern": f"^{NAME_PATTERN}$"}
    address = {"type": "string", "pattern": f"^[A-Z][A-Za-z0-9]*/{NAME_PATTERN}$"}
    labels = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}
    metadata = {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": dict(zip(METADATA_KEYS, (name, labels), strict=True)),
    }
    return {
        "apiVersion": {"type": "string"},
        "kind": {"enum": kind_names},
        "metadata": metadata,
        "dependsOn": {"type": "array", "items": address, "uniqueItems": True},
        "spec": {"type": "object"},
    }


def _branch(name: str, kind: Kind) -> dict[str, Any]:
    return {
        "if": {"properties": {"kind": {"const": name}}, "required": ["kind"]},
        "then": {
            "description": kind.describe(),
            "properties": {
                "apiVersion": {"const": kind.api_version},
                "spec": {"$ref": f"#/$defs/{name}"},
            },
        },
    }


def _spec_defs(name: str, kind: Kind) -> dict[str, Any]:
    """The kind's spec model and its nested models, named ``Kind`` and ``Kind.Model``."""
    schema = kind.spec_model.model_json_schema(ref_template=f"#/$defs/{name}.{{model}}")
    nested = schema.pop("$defs", {})
    defs = {f"{name}.{model}": _allow_expressions(body) for model, body in nested.items()}
    defs[name] = _allow_expressions(schema)
    return defs


def _allow_expressions(schema: Any) -> Any:
    """Each property also accepts an expression string."""
    if isinstance(schema, list):
        return [_allow_expressions(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _allow_expressions(v) for k, v in schema.items()}
    if isinstance(out.get("properties"), dict):
        out["properties"] = {k: _or_expression(v) for k, v in out["properties"].items()}
    return out


def _or_expression(schema: Any) -> Any:
    if not isinstance(schema, dict) or schema.get("type") == "string":
        return schema
    hoisted = {k: schema[k] for k in _HOISTED if k in schema}
    rest = {k: v for k, v in schema.items() if k not in _HOISTED}
    return {**hoisted, "anyOf": [rest, _EXPRESSION_REF]}


def _expression() -> dict[str, Any]:
    return {
        "type": "string",
        "pattern": r"\$\{\{[^{}]*\}\}",
        "description": "${{ var.NAME }}, ${{ Kind.name.output }}, ${{ env.name }} or "
        "${{ project.name }}",
    }
