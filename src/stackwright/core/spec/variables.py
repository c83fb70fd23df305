"""Variable values for one environment: given > ``STACKWRIGHT_VAR_<name>`` > environment >
default; a required variable left without a value is an error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stackwright.core.spec.config import (
    ENV_VAR_PREFIX,
    ProjectConfig,
    VariableDecl,
    coerce_text,
)
from stackwright.errors import SpecError
from stackwright.registry import did_you_mean


def resolve_variables(
    config: ProjectConfig,
    environment: str,
    given: Mapping[str, str],
    environ: Mapping[str, str],
) -> tuple[dict[str, Any], list[SpecError]]:
    """Every declared variable's value, and the problems found on the way."""
    errors = [_undeclared(name, config) for name in given if name not in config.variables]
    spec = config.environment_specs.get(environment)
    env_values = spec.variables if spec is not None else {}
    values: dict[str, Any] = {}
    for name, decl in config.variables.items():
        value, error = _value_of(decl, given, environ, env_values, environment)
        if error is not None:
            errors.append(error)
        else:
            values[name] = value
    return values, errors


def env_var_names(name: str) -> tuple[str, ...]:
    """The environment variables that may set ``name``: as written, then upper-cased."""
    exact = ENV_VAR_PREFIX + name
    upper = ENV_VAR_PREFIX + name.upper().replace("-", "_")
    return (exact,) if upper == exact else (exact, upper)


def _value_of(
    decl: VariableDecl,
    given: Mapping[str, str],
    environ: Mapping[str, str],
    env_values: Mapping[str, Any],
    environment: str,
) -> tuple[Any, SpecError | None]:
    if decl.name in given:
        return _from_text(decl, given[decl.name], "as given")
    for env_var in env_var_names(decl.name):
        if env_var in environ:
            return _from_text(decl, environ[env_var], f"from ${env_var}")
    if decl.name in env_values:
        return env_values[decl.name], None
    if decl.has_default:
        return decl.default, None
    hint = (
        f"give it with --var {decl.name}=..., ${ENV_VAR_PREFIX}{decl.name}, "
        f"environments.{environment}.variables or a default"
    )
    message = f"variable {decl.name!r} is required and has no value in {environment!r}"
    return None, SpecError(
        message, location=decl.location, field=f"variables.{decl.name}", hint=hint
    )


def _from_text(decl: VariableDecl, text: str, source: str) -> tuple[Any, SpecError | None]:
    if decl.type is None:
        return text, None
    value, problem = coerce_text(decl.type, text)
    if problem is None:
        return value, None
    return None, SpecError(
        f"variable {decl.name!r}: {problem}", field=f"var.{decl.name}", hint=source
    )


def _undeclared(name: str, config: ProjectConfig) -> SpecError:
    hint = did_you_mean(name, list(config.variables)) or "declare it in stackwright.yaml"
    return SpecError(f"variable {name!r} is not declared", field=f"var.{name}", hint=hint)
