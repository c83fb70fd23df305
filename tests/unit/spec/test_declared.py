"""What a loaded project declares: specs, refs, edges, labels, locations, order."""

from __future__ import annotations

from stackwright.core.kinds import Kind
from stackwright.core.model import Address, Ref
from stackwright.core.spec.yamlpos import parse_documents
from stackwright.errors import Location
from stackwright.registry import Registry

from .conftest import Write
from .helpers import doc, load


def test_declared_values(write: Write, kinds: Registry[Kind]) -> None:
    files = {
        "b/z.yaml": doc("Command", "setup", "  create: mkdir -p out\n  timeout: 5\n"),
        "a.yaml": doc(
            "File",
            "motd",
            "  path: out/motd.txt\n  content: 'id=${{ Command.setup.id }} ${{ var.greeting }}'\n",
            extra="  labels: {team: platform, tier: 1}\ndependsOn: [Command/setup, File/other]\n",
        )
        + "---\n"
        + doc("File", "other", "  path: other.txt\n"),
    }
    declared = load(write(files), kinds).declared
    assert [str(a) for a in declared] == ["File/motd", "File/other", "Command/setup"]
    motd = declared[Address("File", "motd")]
    assert motd.spec == {"path": "out/motd.txt", "content": "id=${{ Command.setup.id }} world"}
    assert motd.refs == (Ref("Command.setup.id", "content", Address("Command", "setup"), "id"),)
    assert motd.depends_on == (Address("Command", "setup"), Address("File", "other"))
    assert motd.labels == {"team": "platform", "tier": "1"}
    assert motd.location == Location("a.yaml", 2, 1)
    assert motd.api_version == "stackwright.dev/v1"
    setup = declared[Address("Command", "setup")]
    assert setup.spec == {"create": "mkdir -p out", "timeout": 5}
    assert setup.sensitive == {"env"}
    assert setup.location == Location("b/z.yaml", 2, 1)


def test_whole_string_variable_keeps_its_type(write: Write, kinds: Registry[Kind]) -> None:
    config = "project: demo\nvariables:\n  t: {default: 9, type: integer}\n"
    a = doc("Command", "a", "  create: echo\n  timeout: ${{ var.t }}\n")
    project = load(write({"a.yaml": a}, config=config), kinds, variables={"t": "12"})
    assert project.declared[Address("Command", "a")].spec["timeout"] == 12


def test_positions_follow_merge_keys_and_aliases() -> None:
    text = "base: &b {user: root, group: x}\nowner:\n  <<: *b\n  group: staff\n"
    (document,), errors = parse_documents(text, "f.yaml")
    assert errors == []
    assert document.tree["owner"] == {"user": "root", "group": "staff"}
    assert document.location(("owner", "group")) == Location("f.yaml", 4, 3)
    assert document.location(("owner", "user")) == Location("f.yaml", 1, 11)
    assert document.find(("owner", "missing", 0)) == (("owner",), (2, 1))


def test_unsupported_tags_and_empty_documents() -> None:
    documents, errors = parse_documents("---\n---\na: !secret x\nd: 2024-01-01\n", "f.yaml")
    assert [d.tree for d in documents] == [{"a": "x", "d": "2024-01-01"}]
    assert [str(e) for e in errors] == [
        "f.yaml:3:4: unsupported YAML tag '!secret' (quote the value)"
    ]
