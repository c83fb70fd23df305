"""The validated-project cache: an unchanged project is read back with the same result;
any change of what a load reads (files, config, environment, variables, kind code) is a miss;
nothing sensitive is ever kept."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from stackwright.core.kinds import Kind
from stackwright.core.spec import loader, projectcache
from stackwright.core.spec.projectcache import CACHE_DIR, ProjectCache, code_fingerprint
from stackwright.registry import Registry

from .conftest import Write
from .helpers import doc, errors_of, load

MAIN = (
    doc("File", "a", "  path: a.txt\n  content: 'hi ${{ var.greeting }}'\n",
        extra="  labels: {team: core}\n")
    + "---\n"
    + doc("Command", "b", "  create: echo ${{ File.a.sha256 }}\n", extra="dependsOn: [File/a]\n")
)


def _checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records the resources validated (phase 3 runs only when the cache misses)."""
    seen: list[str] = []
    real = loader.check_resource

    def check(res, kind, ctx):  # type: ignore[no-untyped-def]
        seen.append(str(res.address))
        return real(res, kind, ctx)

    monkeypatch.setattr(loader, "check_resource", check)
    return seen


def test_an_unchanged_project_is_read_back_the_same(
    write: Write, kinds: Registry[Kind], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write({"main.yaml": MAIN})
    checks = _checks(monkeypatch)
    first = load(root, kinds)
    assert len(checks) == 2
    second = load(root, kinds)
    assert len(checks) == 2, "read back, not validated again"
    assert second.declared == first.declared
    assert [d.location for d in second.declared.values()] == [
        d.location for d in first.declared.values()]
    assert second.kinds == first.kinds and second.variables == first.variables


@pytest.mark.parametrize("change", ["spec", "new file", "config", "environment", "variable"])
def test_any_change_of_what_a_load_reads_is_a_miss(
    change: str, write: Write, kinds: Registry[Kind], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write({"main.yaml": MAIN})
    load(root, kinds)
    checks = _checks(monkeypatch)
    options: dict[str, object] = {}
    if change == "spec":
        (root / "main.yaml").write_text(MAIN.replace("a.txt", "b.txt"))
    elif change == "new file":
        (root / "more.yaml").write_text(doc("File", "c", "  path: c.txt\n  content: c\n"))
    elif change == "config":
        text = (root / "stackwright.yaml").read_text().replace("world", "there")
        (root / "stackwright.yaml").write_text(text)
    elif change == "environment":
        options["environment"] = "prod"
    else:
        options["variables"] = {"greeting": "you"}
    project = load(root, kinds, **options)  # type: ignore[arg-type]
    assert checks, "validated again"
    again = load(root, kinds, **options)  # type: ignore[arg-type]
    assert again.declared == project.declared


def test_a_variable_from_the_environment_is_part_of_the_key(
    write: Write, kinds: Registry[Kind]
) -> None:
    root = write({"main.yaml": MAIN})
    one = load(root, kinds, environ={"STACKWRIGHT_VAR_greeting": "one"})
    two = load(root, kinds, environ={"STACKWRIGHT_VAR_greeting": "two"})
    assert one.declared != two.declared
    a = next(iter(two.declared.values()))
    assert a.spec["content"] == "hi two"


def test_edited_kind_code_is_a_miss(
    write: Write, kinds: Registry[Kind], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write({"main.yaml": MAIN})
    load(root, kinds)
    monkeypatch.setattr(projectcache, "code_fingerprint", lambda used: "edited")
    checks = _checks(monkeypatch)
    load(root, kinds)
    assert checks


def test_the_code_fingerprint_follows_the_kind_modules(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "pluginkinds"
    package.mkdir()
    (package / "__init__.py").write_text("")
    module = package / "kinds.py"
    module.write_text(
        "from stackwright.core.kinds import Kind\n\nclass Thing(Kind):\n    name = 'Thing'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from pluginkinds.kinds import Thing  # type: ignore[import-not-found]

    before = code_fingerprint([Thing()])
    assert code_fingerprint([Thing()]) == before
    stat = module.stat()
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert code_fingerprint([Thing()]) != before
    (package / "helpers.py").write_text("X = 1\n")
    assert code_fingerprint([Thing()]) != before
    sys.modules.pop("pluginkinds.kinds", None)
    sys.modules.pop("pluginkinds", None)


def test_sensitive_projects_are_never_kept(write: Write, kinds: Registry[Kind]) -> None:
    secret = doc("Command", "s", "  create: x\n  env: {TOKEN: planted-8842}\n")
    root = write({"main.yaml": MAIN, "secret.yaml": secret})
    load(root, kinds)
    assert not (root / CACHE_DIR).exists() or not any((root / CACHE_DIR).iterdir())

    config = "project: demo\nvariables:\n  greeting: {default: hi, sensitive: true}\n"
    root2 = write({"main.yaml": MAIN}, config=config)
    load(root2, kinds)
    entries = list((root2 / CACHE_DIR).iterdir()) if (root2 / CACHE_DIR).exists() else []
    assert entries == []


def test_a_kept_project_that_becomes_sensitive_is_dropped(
    write: Write, kinds: Registry[Kind]
) -> None:
    root = write({"main.yaml": MAIN})
    load(root, kinds)
    entry = ProjectCache(root, "dev").entry
    assert entry.exists()
    (root / "more.yaml").write_text(doc("Command", "s", "  create: x\n  env: {T: planted}\n"))
    load(root, kinds)
    assert not entry.exists()


def test_a_broken_entry_is_a_miss(write: Write, kinds: Registry[Kind],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    root = write({"main.yaml": MAIN})
    first = load(root, kinds)
    entry = ProjectCache(root, "dev").entry
    for garbage in (b"", b"\x00garbage", entry.read_bytes()[:-9]):
        entry.write_bytes(garbage)
        checks = _checks(monkeypatch)
        assert load(root, kinds).declared == first.declared
        assert checks
        monkeypatch.undo()


def test_errors_are_reported_as_always(write: Write, kinds: Registry[Kind]) -> None:
    root = write({"main.yaml": MAIN})
    load(root, kinds)
    (root / "main.yaml").write_text(MAIN.replace("File.a.sha256", "File.zz.sha256"))
    (error,) = errors_of(root, kinds)
    assert "reference to File/zz, which is not declared" in error
