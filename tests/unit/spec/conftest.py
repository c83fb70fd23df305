"""Two tiny kinds in a fresh registry, and a helper that writes project files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import Field

from stackwright.core.kinds import Kind, SpecModel
from stackwright.core.model import Declared
from stackwright.errors import SpecError
from stackwright.registry import Registry


class Owner(SpecModel):
    user: str
    group: str = ""


class FileSpec(SpecModel):
    path: str
    content: str = ""
    mode: str = "0644"
    owner: Owner | None = None


class CommandSpec(SpecModel):
    create: str
    destroy: str | None = None
    triggers: dict[str, str] = Field(default_factory=dict)
    timeout: int = 60
    env: dict[str, str] = Field(default_factory=dict)


class FileKind(Kind):
    """A file with content."""

    name = "File"
    spec_model = FileSpec
    outputs = ("path", "sha256")

    def validate_together(self, resources: Sequence[Declared]) -> list[SpecError]:
        seen: dict[str, Declared] = {}
        errors = []
        for decl in resources:
            path = decl.spec.get("path")
            if isinstance(path, str) and path in seen:
                errors.append(
                    SpecError(
                        f"path {path!r} is also written by {seen[path].address}",
                        location=decl.location,
                        field="spec.path",
                    )
                )
            elif isinstance(path, str):
                seen[path] = decl
        return errors


class CommandKind(Kind):
    """A command run on create and destroy."""

    name = "Command"
    spec_model = CommandSpec
    outputs = ("stdout",)
    sensitive: ClassVar[frozenset[str]] = frozenset({"env"})


@pytest.fixture
def kinds() -> Registry[Kind]:
    registry = Registry[Kind]("kind")
    registry.add("File", FileKind())
    registry.add("Command", CommandKind())
    return registry


CONFIG = """\
project: demo
variables:
  greeting: world
environments:
  dev: {}
  prod: {}
"""

Write = Callable[..., Path]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """Writes files (relative path → text) into a project; the config defaults to CONFIG."""

    def _write(files: dict[str, str] | None = None, config: str | None = CONFIG) -> Path:
        if config is not None:
            (tmp_path / "stackwright.yaml").write_text(config)
        for rel, text in (files or {}).items():
            path = tmp_path / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return tmp_path

    return _write
