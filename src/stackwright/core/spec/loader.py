"""Loading a project: ``stackwright.yaml`` plus every resource file, validated in phases.

1. structure: YAML syntax, document shape, names, duplicates, the config file;
2. kinds: only the kinds used are loaded; unknown kinds and wrong apiVersions;
3. schema: variables rendered, the environment's overrides applied, each spec validated;
4. semantics: references, dependsOn, cycles, each kind's checks across its resources.

Every error found is raised at once as :class:`~stackwright.errors.SpecErrors`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackwright.core.kinds import Kind
from stackwright.core.model import Address, Declared
from stackwright.core.spec.cache import SpecCache
from stackwright.core.spec.config import (
    CONFIG_FILE,
    ProjectConfig,
    parse_config,
    resolve_environment,
)
from stackwright.core.spec.projectcache import ProjectCache, project_key
from stackwright.core.spec.semantics import Universe, check_semantics
from stackwright.core.spec.structure import Structure, read_spec_files, read_structure
from stackwright.core.spec.validate import Checked, Context, check_resource, load_kinds
from stackwright.core.spec.variables import resolve_variables
from stackwright.core.values import has_path
from stackwright.errors import SpecError, SpecErrors
from stackwright.gcpause import gc_paused
from stackwright.registry import Registry

__all__ = [
    "Project",
    "ProjectConfig",
    "load_config",
    "load_project",
    "resolve_environment",
]


@dataclass(frozen=True)
class Project:
    """A loaded, valid project in one environment."""

    config: ProjectConfig
    environment: str
    variables: Mapping[str, Any]
    sensitive_variables: frozenset[str]
    declared: Mapping[Address, Declared]
    kinds: Mapping[str, Kind] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def root(self) -> Path:
        return self.config.root

    @property
    def target(self) -> str:
        return self.config.target

    @property
    def state_url(self) -> str | None:
        return self.config.state_url

    @property
    def settings(self) -> Mapping[str, Any]:
        return self.config.settings


def load_config(root: Path) -> ProjectConfig:
    """``stackwright.yaml`` alone; raises SpecErrors listing every problem in it."""
    config, errors = parse_config(Path(root))
    if errors or config is None:
        raise SpecErrors(errors)
    return config


def load_project(
    root: Path,
    *,
    kinds: Registry[Kind],
    environment: str | None = None,
    variables: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Project:
    """The project at ``root`` in ``environment``, validated; raises SpecErrors.

    ``variables`` are given values (``--var``); ``environ`` defaults to ``os.environ`` and is
    read for ``STACKWRIGHT_VAR_<name>``.
    """
    with gc_paused():  # many long-lived objects, no cycles: collecting would only re-scan
        return _load_project(Path(root), kinds, environment, variables or {}, environ)


def _load_project(
    root: Path,
    kinds: Registry[Kind],
    environment: str | None,
    variables: Mapping[str, str],
    environ: Mapping[str, str] | None,
) -> Project:
    config, errors = parse_config(root)
    files = read_spec_files(root)
    if config is None:
        raise SpecErrors(errors + read_structure(root, files=files).errors)
    try:
        env = resolve_environment(config, environment)
    except SpecError as exc:
        raise SpecErrors([exc]) from None
    values, var_errors = resolve_variables(
        config, env, variables, os.environ if environ is None else environ
    )
    errors.extend(var_errors)
    sensitive_variables = frozenset(n for n, d in config.variables.items() if d.sensitive)
    cache, key = _project_cache(root, env, files, values, errors or sensitive_variables)
    if cache is not None:
        hit = cache.get(key, kinds)
        if hit is not None:
            return Project(config, env, values, sensitive_variables, hit.declared, hit.kinds)
    structure = read_structure(root, files=files)
    errors.extend(structure.errors)
    ctx = Context(config, env, values, sensitive_variables)
    used, kind_errors = load_kinds(structure.resources, kinds)
    errors.extend(kind_errors)
    checked: list[Checked] = []
    for res in structure.resources:
        kind = used.get(res.address.kind)
        if kind is None or res.api_version != kind.api_version:
            continue
        result, problems = check_resource(res, kind, ctx)
        errors.extend(problems)
        if result is not None:
            checked.append(result)
    universe = Universe(checked, structure.named, used, structure.complete)
    declared, semantic_errors = check_semantics(universe, config)
    errors.extend(semantic_errors)
    if errors:
        raise SpecErrors(errors)
    _settle_cache(structure, declared)
    if cache is not None:
        cache.put(key, declared, used)
    return Project(config, env, values, sensitive_variables, declared, used)


def _project_cache(
    root: Path,
    environment: str,
    files: tuple[list[tuple[str, str]], list[SpecError]],
    values: Mapping[str, Any],
    not_cacheable: object,
) -> tuple[ProjectCache | None, str]:
    """The validated-project cache and the key of this load; no cache when a file cannot be
    read, a variable is wrong or sensitive, or the cache is off."""
    if not_cacheable or files[1] or not (SpecCache.enabled() and ProjectCache.enabled()):
        return None, ""
    try:
        config_text = (root / CONFIG_FILE).read_bytes()
    except OSError:
        return None, ""
    return ProjectCache(root, environment), project_key(config_text, files[0], environment,
                                                        values)


def _settle_cache(structure: Structure, declared: Mapping[Address, Declared]) -> None:
    """Keep the files parsed this time in the spec cache, but none that writes a sensitive
    value (a literal, or one a variable fills in): the cache never holds a secret."""
    cache = structure.cache
    if cache is None:
        return
    secret = {d.location.file for d in declared.values()
              if d.location is not None and any(has_path(d.spec, p) for p in d.sensitive)}
    for file, text, documents in structure.fresh:
        if file not in secret:
            cache.put(file, text, documents)
    for file in structure.cached & secret:  # sensitive since cached (an override, a kind)
        cache.forget(file)
