"""Pydantic validation errors → human messages on spec field paths."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from stackwright.core.spec.config import show
from stackwright.core.spec.refs import has_expression
from stackwright.core.spec.yamlpos import FieldPath, field_name
from stackwright.errors import Location, SpecError
from stackwright.registry import did_you_mean

_EXPECTED = {
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dataclass_type": "a mapping",
}


class Locate(Protocol):
    """Where a spec field (or, with ``value``, its value) is written."""

    def __call__(self, path: FieldPath, *, value: bool = False) -> Location: ...


@dataclass(frozen=True)
class _Problem:
    path: FieldPath
    message: str
    hint: str | None
    value: bool = True


def schema_errors(
    exc: ValidationError,
    model: type[BaseModel],
    spec: Any,
    locate: Locate,
) -> list[SpecError]:
    """One located error per field; errors on values holding an expression are dropped,
    as those values are only known at plan time."""
    problems: dict[FieldPath, list[_Problem]] = {}
    for detail in exc.errors(include_url=False):
        problem = _problem(detail, model, spec)
        if problem is not None:
            problems.setdefault(problem.path, []).append(problem)
    return [_located(_merge(group), locate) for group in problems.values()]


def _problem(detail: ErrorDetails, model: type[BaseModel], spec: Any) -> _Problem | None:
    loc = tuple(detail["loc"])
    kind = detail["type"]
    existing, value = _existing(spec, loc)
    if kind == "missing":
        path = (*existing, loc[-1]) if len(loc) > len(existing) else existing
        return _Problem(path, "required field is missing", None, value=False)
    if kind == "extra_forbidden":
        names = _field_names(model, existing[:-1])
        key = str(existing[-1]) if existing else ""
        hint = did_you_mean(key, names) or (f"allowed: {', '.join(names)}" if names else None)
        return _Problem(existing, "unknown field", hint, value=False)
    if _holds_expression(value):
        return None
    return _Problem(existing, message(detail), None)


def message(detail: ErrorDetails) -> str:
    """A sentence a user reads: what was expected, and what was found."""
    kind = detail["type"]
    got = show(detail.get("input"))
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {got}"
    ctx = detail.get("ctx") or {}
    if kind in ("literal_error", "enum") and "expected" in ctx:
        return f"expected {ctx['expected']}, got {got}"
    text = str(detail["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    text = text[:1].lower() + text[1:]
    if kind.startswith(("value_error", "assertion_error")) or isinstance(
        detail.get("input"), dict | list
    ):
        return text
    return f"{text}, got {got}"


def _existing(tree: Any, loc: tuple[Any, ...]) -> tuple[FieldPath, Any]:
    """The longest prefix of ``loc`` present in ``tree``, and the value there."""
    node = tree
    path: list[str | int] = []
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            break
        path.append(part)
    return tuple(path), node


def _holds_expression(value: Any) -> bool:
    if isinstance(value, str):
        return has_expression(value)
    if isinstance(value, dict):
        return any(_holds_expression(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_expression(v) for v in value)
    return False


def _merge(group: list[_Problem]) -> _Problem:
    """Union branches fail one by one; say it once: "expected A or B, got X"."""
    first = group[0]
    messages = list(dict.fromkeys(p.message for p in group))
    if len(messages) == 1:
        return first
    parts = [m.rpartition(", got ") for m in messages]
    if all(m.startswith("expected ") and p[1] for m, p in zip(messages, parts, strict=True)):
        wanted = " or ".join(dict.fromkeys(p[0].removeprefix("expected ") for p in parts))
        return _Problem(first.path, f"expected {wanted}, got {parts[0][2]}", first.hint)
    return _Problem(first.path, "; ".join(messages), first.hint)


def _located(problem: _Problem, locate: Locate) -> SpecError:
    path: FieldPath = ("spec", *problem.path)
    return SpecError(
        problem.message,
        location=locate(path, value=problem.value),
        field=field_name(path),
        hint=problem.hint,
    )


def _field_names(model: type[BaseModel], path: FieldPath) -> list[str]:
    """Field names and aliases of the model(s) that hold ``path``."""
    models = [model]
    for part in path:
        if isinstance(part, int):
            continue
        inner = [m for current in models for m in _models_of_field(current, str(part))]
        models = inner or models
    names: set[str] = set()
    for current in models:
        for name, info in current.model_fields.items():
            names.add(info.alias or name)
    return sorted(names)


def _models_of_field(model: type[BaseModel], name: str) -> Iterator[type[BaseModel]]:
    for field_name_, info in model.model_fields.items():
        if name in (field_name_, info.alias):
            yield from _models_in(info.annotation)


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            yield from _models_in(arg)
