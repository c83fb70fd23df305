"""``stackwright init`` writes a project that loads cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackwright.core.kinds import Kind
from stackwright.core.model import Address
from stackwright.core.spec.scaffold import scaffold
from stackwright.errors import SpecError
from stackwright.registry import Registry

from .helpers import load


def test_scaffold_loads_cleanly_in_both_environments(tmp_path: Path, kinds: Registry[Kind]) -> None:
    written = scaffold(tmp_path / "new", "my-app")
    assert [p.name for p in written] == ["stackwright.yaml", "main.yaml"]
    dev = load(tmp_path / "new", kinds)
    assert (dev.name, dev.environment) == ("my-app", "dev")
    assert [str(a) for a in dev.declared] == ["Command/setup", "File/motd"]
    motd = dev.declared[Address("File", "motd")]
    assert motd.spec["content"] == "hello from dev in dev\n"
    assert motd.depends_on == (Address("Command", "setup"),)
    prod = load(tmp_path / "new", kinds, environment="prod")
    assert prod.declared[Address("File", "motd")].spec["mode"] == "0600"


def test_scaffold_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "main.yaml").write_text("keep me")
    with pytest.raises(SpecError, match="main.yaml already exists"):
        scaffold(tmp_path, "demo")
    assert (tmp_path / "main.yaml").read_text() == "keep me"
    assert not (tmp_path / "stackwright.yaml").exists()


def test_scaffold_checks_the_name(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="invalid project name 'My App'"):
        scaffold(tmp_path, "My App")
