"""The parsed-file cache: a second load reads unchanged files from it, with the same result
and the same located errors; any edit of a file, or a broken entry, parses it again."""

from __future__ import annotations

import marshal
from pathlib import Path

import pytest

from stackwright.core.kinds import Kind
from stackwright.core.spec import structure
from stackwright.core.spec.cache import CACHE_DIR, DISABLE_ENV, SpecCache
from stackwright.core.spec.projectcache import DISABLE_ENV as PROJECT_DISABLE_ENV
from stackwright.core.spec.yamlpos import parse_documents
from stackwright.registry import Registry

from .conftest import Write
from .helpers import doc, errors_of, load

GOOD = (
    doc("File", "a", "  path: a.txt\n  content: 'x ${{ var.greeting }}'\n",
        extra="  labels: {team: core}\n")
    + "---\n# an empty document between two\n---\n"
    + doc("Command", "b", "  create: echo ${{ File.a.sha256 }}\n  timeout: 5\n"
          "  triggers: {A: '1', B: 'yes'}\n", extra="dependsOn: [File/a]\n")
)

OTHER = doc("File", "other", "  path: other.txt\n")
USES_OTHER = (
    doc("Command", "b", "  create: echo ${{ File.other.sha256 }}\n  timeout: 5\n")
    + "---\n"
    + doc("Command", "c", "  create: 'say ${{ var.greeting }}'\n",
          extra="dependsOn: [File/other]\n")
)


@pytest.fixture(autouse=True)
def _parse_cache_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests look at the parse cache: the validated-project cache would answer first."""
    monkeypatch.setenv(PROJECT_DISABLE_ENV, "0")


def _entries(root: Path) -> list[Path]:
    return list((root / CACHE_DIR).iterdir())


def _parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records which files were parsed (not read from the cache)."""
    seen: list[str] = []

    def parse(text: str, file: str) -> object:
        seen.append(file)
        return parse_documents(text, file)

    monkeypatch.setattr(structure, "parse_documents", parse)
    return seen


def test_a_second_load_reads_the_cache_and_gives_the_same_project(
    write: Write, kinds: Registry[Kind], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write({"main.yaml": GOOD, "more/other.yaml": doc("File", "z", "  path: z\n")})
    parsed = _parsed(monkeypatch)
    first = load(root, kinds)
    assert sorted(parsed) == ["main.yaml", "more/other.yaml"]
    assert len(_entries(root)) == 3, "two spec files and the config"
    second = load(root, kinds)
    assert sorted(parsed) == ["main.yaml", "more/other.yaml"], "nothing parsed again"
    assert second.declared == first.declared
    assert second.declared[next(iter(second.declared))].location == first.declared[
        next(iter(first.declared))].location


def test_entries_keep_every_scalar_type(tmp_path: Path) -> None:
    text = "a: {1: one, false: no, ~: null, 2.5: [x, 0x10, .inf]}\n"
    (document,), errors = parse_documents(text, "f.yaml")
    assert not errors
    cache = SpecCache(tmp_path)
    cache.put("f.yaml", text, [document])
    (cached,) = cache.get("f.yaml", text) or []
    assert cached.tree == document.tree == {
        "a": {1: "one", False: False, None: None, 2.5: ["x", 16, float("inf")]}}
    assert [type(k) for k in cached.tree["a"]] == [int, bool, type(None), float]
    assert cached.location(("a", 2.5)) == document.location(("a", 2.5))
    assert cache.get("f.yaml", text + "\n") is None


def test_errors_in_cached_files_are_located_as_in_parsed_ones(
    write: Write, kinds: Registry[Kind], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write({"main.yaml": USES_OTHER, "other.yaml": OTHER})
    load(root, kinds)
    (root / "other.yaml").unlink()
    (root / "stackwright.yaml").write_text("project: demo\n")
    parsed = _parsed(monkeypatch)
    cached = errors_of(root, kinds)
    assert parsed == [], "main.yaml came from the cache"
    monkeypatch.setenv(DISABLE_ENV, "0")
    assert cached == errors_of(root, kinds) == [
        "main.yaml:6:11: spec.create: reference to File/other, which is not declared",
        "main.yaml:13:13: dependsOn.0: depends on File/other, which is not declared",
        "main.yaml:15:11: spec.create: unknown variable 'greeting' (declare it under "
        "`variables:` in stackwright.yaml)",
    ]


def test_files_writing_sensitive_values_are_never_cached(
    write: Write, kinds: Registry[Kind], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = doc("Command", "s", "  create: x\n  env: {TOKEN: planted-8842}\n")
    root = write({"main.yaml": doc("File", "a", "  path: a.txt\n"), "secret.yaml": secret})
    load(root, kinds)
    assert SpecCache(root).get("secret.yaml", secret) is None
    assert len(_entries(root)) == 2, "main.yaml and the config"
    assert all(b"planted-8842" not in e.read_bytes() for e in _entries(root))


def test_a_cached_file_that_becomes_sensitive_leaves_the_cache(
    write: Write, kinds: Registry[Kind], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = doc("Command", "s", "  create: x\n")
    root = write({"main.yaml": text})
    load(root, kinds)
    assert SpecCache(root).get("main.yaml", text) is not None
    (root / "stackwright.yaml").write_text(
        "project: demo\nenvironments:\n  dev:\n    overrides:\n"
        "      Command/s: {spec: {env: {TOKEN: from-override}}}\n")
    assert load(root, kinds).declared
    assert SpecCache(root).get("main.yaml", text) is None


def test_an_edit_invalidates_the_entry(
    write: Write, kinds: Registry[Kind], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write({"main.yaml": doc("File", "a", "  path: a.txt\n  content: one\n")})
    parsed = _parsed(monkeypatch)
    load(root, kinds)
    count = len(_entries(root))
    (root / "main.yaml").write_text(doc("File", "a", "  path: a.txt\n  content: two\n"))
    project = load(root, kinds)
    assert parsed == ["main.yaml", "main.yaml"]
    assert next(iter(project.declared.values())).spec["content"] == "two"
    assert len(_entries(root)) == count, "the entry was replaced"


def test_a_broken_entry_is_a_miss_and_is_rewritten(
    write: Write, kinds: Registry[Kind], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = doc("File", "a", "  path: a.txt\n")
    root = write({"main.yaml": text})
    load(root, kinds)
    (entry,) = [e for e in _entries(root) if b"main.yaml" in e.read_bytes()]
    wrong_shape = marshal.dumps(marshal.loads(entry.read_bytes())[:3] + ([(0, {}, (1, 1))],))
    for garbage in (b"", b"\x00\x01garbage", entry.read_bytes()[:-7], wrong_shape):
        entry.write_bytes(garbage)
        parsed = _parsed(monkeypatch)
        assert len(load(root, kinds).declared) == 1
        assert parsed == ["main.yaml"]
    assert SpecCache(root).get("main.yaml", text) is not None


def test_files_of_a_failed_load_are_not_cached(write: Write, kinds: Registry[Kind]) -> None:
    bad = "apiVersion: stackwright.dev/v1\nkind: File\n  bad: [1\n"
    unknown = doc("File", "a", "  path: a.txt\n  nope: 1\n")
    root = write({"main.yaml": bad, "other.yaml": unknown})
    errors_of(root, kinds)
    assert SpecCache(root).get("other.yaml", unknown) is None, "parsed, but the load failed"
    assert SpecCache(root).get("main.yaml", bad) is None


def test_the_cache_can_be_disabled(
    write: Write, kinds: Registry[Kind], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write({"main.yaml": doc("File", "a", "  path: a.txt\n")})
    monkeypatch.setenv(DISABLE_ENV, "0")
    load(root, kinds)
    assert not (root / CACHE_DIR).exists()


def test_a_config_that_may_hold_a_secret_is_not_cached(
    write: Write, kinds: Registry[Kind]
) -> None:
    config = "project: demo\nvariables:\n  token: {default: planted-77, sensitive: true}\n"
    root = write({"main.yaml": doc("File", "a", "  path: a.txt\n")}, config=config)
    load(root, kinds)
    assert SpecCache(root).get("stackwright.yaml", config) is None
    with_state = "project: demo\nstate: {url: 'postgresql://u:pw@h/db'}\n"
    (root / "stackwright.yaml").write_text(with_state)
    load(root, kinds)
    assert SpecCache(root).get("stackwright.yaml", with_state) is None
    plain = "project: demo\n"
    (root / "stackwright.yaml").write_text(plain)
    load(root, kinds)
    assert SpecCache(root).get("stackwright.yaml", plain) is not None


def test_a_cache_that_cannot_be_written_is_skipped(
    write: Write, kinds: Registry[Kind], tmp_path: Path
) -> None:
    root = write({"main.yaml": doc("File", "a", "  path: a.txt\n")})
    (root / ".stackwright").write_text("a file where the directory would be")
    assert len(load(root, kinds).declared) == 1
