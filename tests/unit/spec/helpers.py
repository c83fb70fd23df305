"""Shared helpers: load a project and return its errors as rendered lines."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from stackwright.core.kinds import Kind
from stackwright.core.spec.loader import Project, load_project
from stackwright.errors import SpecErrors
from stackwright.registry import Registry


def errors_of(
    root: Path,
    kinds: Registry[Kind],
    *,
    environment: str | None = None,
    variables: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    with pytest.raises(SpecErrors) as info:
        load_project(
            root, kinds=kinds, environment=environment, variables=variables, environ=environ or {}
        )
    return [str(e) for e in info.value.errors]


def load(
    root: Path,
    kinds: Registry[Kind],
    *,
    environment: str | None = None,
    variables: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Project:
    return load_project(
        root, kinds=kinds, environment=environment, variables=variables, environ=environ or {}
    )


def doc(kind: str, name: str, spec: str, extra: str = "") -> str:
    """One resource document; ``spec`` is the indented body of ``spec:``."""
    return (
        f"apiVersion: stackwright.dev/v1\nkind: {kind}\nmetadata:\n  name: {name}\n{extra}"
        f"spec:\n{spec}"
    )
