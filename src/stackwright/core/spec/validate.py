"""Phases 2 and 3: load only the kinds used, then render variables, apply the environment's
overrides and validate each spec against its kind's model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

from pydantic import ValidationError

from stackwright.core.kinds import Kind
from stackwright.core.model import Address, Ref
from stackwright.core.spec.config import ProjectConfig
from stackwright.core.spec.messages import schema_errors
from stackwright.core.spec.refs import (
    Expression,
    ExpressionError,
    expression_paths,
    parse_expression,
    render,
)
from stackwright.core.spec.structure import Resource
from stackwright.core.spec.yamlpos import FieldPath, YamlDocument, field_name
from stackwright.errors import Location, RegistryError, SpecError
from stackwright.registry import Registry, did_you_mean

RENDERED_SCOPES = frozenset({"var", "env", "project"})


@dataclass(frozen=True)
class Context:
    """What rendering needs: the project, the environment and the variable values."""

    config: ProjectConfig
    environment: str
    variables: Mapping[str, Any]
    sensitive_variables: frozenset[str]

    @cached_property
    def overrides(self) -> Mapping[Address, Mapping[str, Any]]:
        spec = self.config.environment_specs.get(self.environment)
        return spec.overrides if spec is not None else {}

    @cached_property
    def values_hold_expressions(self) -> bool:
        """Whether a variable's value may bring references into the specs it is used in."""
        return any("${{" in str(value) for value in self.variables.values())


class Locator:
    """Finds where a field of a resource is written: in its document, or in the environment's
    override of it in stackwright.yaml when the value comes from there. (A plain class: one
    is made for every resource of every load.)"""

    __slots__ = ("config", "document", "prefix")

    def __init__(
        self, document: YamlDocument, config: ProjectConfig | None = None, prefix: FieldPath = ()
    ) -> None:
        self.document = document
        self.config = config
        self.prefix = prefix

    def __call__(self, path: FieldPath, *, value: bool = False) -> Location:
        doc_path, (line, col) = self.document.find(path, value=value)
        config = self.config.document if self.config is not None else None
        if config is not None and path[:1] == ("spec",):
            found, (cfg_line, cfg_col) = config.find((*self.prefix, *path), value=value)
            depth = len(found) - len(self.prefix)
            if depth == len(path) or depth > len(doc_path):
                return Location(config.file, cfg_line, cfg_col)
        return Location(self.document.file, line, col)


class Checked(NamedTuple):
    """A resource whose spec passed phase 3; ``ref_paths`` say where each ref stands."""

    resource: Resource
    kind: Kind
    spec: Mapping[str, Any]
    refs: tuple[Ref, ...]
    ref_paths: tuple[FieldPath, ...]
    sensitive: frozenset[str]
    locate: Locator


def load_kinds(
    resources: list[Resource], registry: Registry[Kind]
) -> tuple[dict[str, Kind], list[SpecError]]:
    """Phase 2: the kinds the resources use, loaded one by one; unknown ones are errors."""
    kinds: dict[str, Kind] = {}
    failed: dict[str, SpecError] = {}
    errors: list[SpecError] = []
    for res in resources:
        name = res.address.kind
        if name not in kinds and name not in failed:
            try:
                kinds[name] = _get_kind(registry, name)
            except RegistryError as exc:
                failed[name] = SpecError(exc.message, hint=exc.hint)
        if name in failed:
            errors.append(_at(res.document, ("kind",), failed[name]))
        elif res.api_version != kinds[name].api_version:
            message = f"{name} is not in {res.api_version!r}"
            hint = f"use apiVersion: {kinds[name].api_version}"
            errors.append(_at(res.document, ("apiVersion",), SpecError(message, hint=hint)))
    return kinds, errors


def _get_kind(registry: Registry[Kind], name: str) -> Kind:
    if name not in registry:
        raise RegistryError(f"unknown kind {name!r}", hint=did_you_mean(name, registry.names()))
    try:
        return registry.get(name)
    except ImportError as exc:
        raise RegistryError(f"kind {name!r} cannot be loaded: {exc}") from exc


def _at(document: YamlDocument, path: FieldPath, error: SpecError) -> SpecError:
    return SpecError(
        error.message,
        location=document.location(path, value=True),
        field=field_name(path),
        hint=error.hint,
    )


def check_resource(
    res: Resource, kind: Kind, ctx: Context
) -> tuple[Checked | None, list[SpecError]]:
    """Phase 3 for one resource: render, override, validate; None when it is invalid."""
    override = ctx.overrides.get(res.address)
    locate = Locator(res.document)
    spec: Any = res.spec
    found = res.document.spec_expressions  # known when the document came from the cache
    if override is not None:
        spec = deep_merge(spec, override)
        prefix = ("environments", ctx.environment, "overrides", str(res.address))
        locate = Locator(res.document, ctx.config, prefix)
        found = None
    scan = _scan(spec, ctx, locate, found)
    if scan.fatal:
        return None, scan.errors
    refs = scan.refs
    if scan.rendered:
        spec = render(spec, _Resolver(ctx), RENDERED_SCOPES)
        if ctx.values_hold_expressions:
            refs = _resource_refs(spec)
    try:
        model = kind.spec_model.model_validate(spec)
    except ValidationError as exc:
        problems = schema_errors(exc, kind.spec_model, spec, locate)
        if problems:
            return None, scan.errors + problems
        model = None
    if model is not None and not refs:
        spec = kind.normalize(model)
    sensitive = scan.sensitive | kind.sensitive_fields(spec)
    checked = Checked(
        res,
        kind,
        spec,
        tuple(Ref(e.text, field_name(path), e.address, e.output) for path, e in refs),
        tuple(path for path, _ in refs),
        frozenset(sensitive),
        locate,
    )
    return checked, scan.errors


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``top`` laid over it: mappings merge, anything else is replaced."""
    out = dict(base)
    for key, value in top.items():
        below = out.get(key)
        if isinstance(below, dict) and isinstance(value, dict):
            out[key] = deep_merge(below, value)
        else:
            out[key] = value
    return out


def find_expressions(tree: Any) -> list[tuple[FieldPath, str | None]]:
    """Every (field path, expression text) in a tree; None for an unterminated ``${{``."""
    return expression_paths(tree)


@dataclass
class _Scan:
    """What one pass over a spec's expressions found."""

    errors: list[SpecError] = field(default_factory=list)
    sensitive: set[str] = field(default_factory=set)
    refs: list[tuple[FieldPath, Expression]] = field(default_factory=list)
    rendered: int = 0
    fatal: bool = False


def _scan(
    spec: Any,
    ctx: Context,
    locate: Locator,
    found: Sequence[tuple[FieldPath, str | None]] | None = None,
) -> _Scan:
    """Parse every expression (``found``, or those found in ``spec``), check its variable,
    and collect resource references."""
    scan = _Scan()
    for path, text in find_expressions(spec) if found is None else found:
        try:
            expr = _parse(text)
        except ExpressionError as exc:
            where: FieldPath = ("spec", *path)
            scan.errors.append(
                SpecError(str(exc), location=locate(where, value=True), field=field_name(where))
            )
            scan.fatal = True
            continue
        if expr.scope == "resource":
            scan.refs.append((path, expr))
            continue
        scan.rendered += 1
        if expr.scope != "var":
            continue
        if expr.name in ctx.sensitive_variables:
            scan.sensitive.add(field_name(path))
        if expr.name not in ctx.config.variables:
            where = ("spec", *path)
            hint = did_you_mean(expr.name, list(ctx.config.variables))
            hint = hint or "declare it under `variables:` in stackwright.yaml"
            scan.errors.append(
                SpecError(
                    f"unknown variable {expr.name!r}",
                    location=locate(where, value=True),
                    field=field_name(where),
                    hint=hint,
                )
            )
    return scan


def _parse(text: str | None) -> Expression:
    if text is None:
        raise ExpressionError("unterminated expression: '${{' without a closing '}}'")
    return parse_expression(text)


class _Resolver:
    """Values of ``var``, ``env`` and ``project`` expressions; a variable without a value
    (already reported) is left as written."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def __call__(self, expr: Expression) -> Any:
        if expr.scope == "env":
            return self.ctx.environment
        if expr.scope == "project":
            return self.ctx.config.name
        if expr.name in self.ctx.variables:
            return self.ctx.variables[expr.name]
        return "${{ " + expr.text + " }}"


def _resource_refs(spec: Any) -> list[tuple[FieldPath, Expression]]:
    """References in a rendered spec, where variables' values may have brought some."""
    refs = []
    for path, text in find_expressions(spec):
        try:
            expr = _parse(text)
        except ExpressionError:
            continue  # in a variable's value: left as text, as the planner will find it
        if expr.scope == "resource":
            refs.append((path, expr))
    return refs
