"""Phase 4: expressions, references, dependsOn, cycles and checks across a kind."""

from __future__ import annotations

from stackwright.core.kinds import Kind
from stackwright.registry import Registry

from .conftest import Write
from .helpers import doc, errors_of

B = doc("File", "b", "  path: b.txt\n")


def test_reference_to_unknown_resource(write: Write, kinds: Registry[Kind]) -> None:
    a = doc("Command", "a", "  create: cat ${{ File.bb.path }}\n")
    assert errors_of(write({"a.yaml": a, "b.yaml": B}), kinds) == [
        "a.yaml:6:11: spec.create: reference to File/bb, which is not declared "
        "(did you mean 'File/b'?)"
    ]


def test_reference_to_unknown_output(write: Write, kinds: Registry[Kind]) -> None:
    a = doc("Command", "a", "  create: cat ${{ File.b.pth }}\n")
    assert errors_of(write({"a.yaml": a, "b.yaml": B}), kinds) == [
        "a.yaml:6:11: spec.create: File/b has no output 'pth' (did you mean 'path'?)"
    ]


def test_unknown_variable(write: Write, kinds: Registry[Kind]) -> None:
    a = doc("Command", "a", "  create: echo\n  triggers:\n    x: ${{ var.greting }}\n")
    assert errors_of(write({"a.yaml": a}), kinds) == [
        "a.yaml:8:8: spec.triggers.x: unknown variable 'greting' (did you mean 'greeting'?)"
    ]


def test_bad_expression_syntax(write: Write, kinds: Registry[Kind]) -> None:
    a = doc("Command", "a", "  create: echo ${{ var greeting }}\n  destroy: echo ${{ var.x\n")
    assert errors_of(write({"a.yaml": a}), kinds) == [
        "a.yaml:6:11: spec.create: cannot parse expression 'var greeting': expected var.NAME, "
        "Kind.name.output, env.name or project.name",
        "a.yaml:7:12: spec.destroy: unterminated expression: '${{' without a closing '}}'",
    ]


def test_depends_on_missing_resource(write: Write, kinds: Registry[Kind]) -> None:
    a = doc("Command", "a", "  create: echo\n", extra="dependsOn:\n  - File/b\n  - File/c\n")
    assert errors_of(write({"a.yaml": a, "b.yaml": B}), kinds) == [
        "a.yaml:7:5: dependsOn.1: depends on File/c, which is not declared (did you mean 'File/b'?)"
    ]


def test_cycle_prints_its_path(write: Write, kinds: Registry[Kind]) -> None:
    files = {
        "a.yaml": doc("File", "a", "  path: a\n  content: ${{ Command.b.stdout }}\n"),
        "b.yaml": doc("Command", "b", "  create: echo\n", extra="dependsOn: [Command/c]\n"),
        "c.yaml": doc("Command", "c", "  create: cat ${{ File.a.path }}\n"),
    }
    assert errors_of(write(files), kinds) == [
        "a.yaml:2:1: dependency cycle: File/a -> Command/b -> Command/c -> File/a "
        "(remove a reference or a dependsOn entry to break it)"
    ]


def test_self_reference_is_a_cycle(write: Write, kinds: Registry[Kind]) -> None:
    files = {"a.yaml": doc("File", "a", "  path: a\n  content: ${{ File.a.path }}\n")}
    assert errors_of(write(files), kinds) == [
        "a.yaml:2:1: dependency cycle: File/a -> File/a "
        "(remove a reference or a dependsOn entry to break it)"
    ]


def test_kind_checks_across_its_resources(write: Write, kinds: Registry[Kind]) -> None:
    same = "  path: same\n"
    files = {"a.yaml": doc("File", "a", same), "b.yaml": doc("File", "b", same)}
    # the kind places the error at the resource; it names the field, so it is placed there
    assert errors_of(write(files), kinds) == [
        "b.yaml:6:3: spec.path: path 'same' is also written by File/a"
    ]


def test_override_of_undeclared_resource(write: Write, kinds: Registry[Kind]) -> None:
    config = "project: demo\nenvironments:\n  prod:\n    overrides:\n      File/x: {spec: {}}\n"
    assert errors_of(write({"b.yaml": B}, config=config), kinds) == [
        "stackwright.yaml:5:7: environments.prod.overrides.File/x: override of File/x, which is "
        "not declared (did you mean 'File/b'?)"
    ]


def test_every_error_at_once_sorted_by_file_and_line(write: Write, kinds: Registry[Kind]) -> None:
    files = {
        "z.yaml": doc("Command", "z", "  create: echo\n  timeout: abc\n"),
        "a.yaml": doc("File", "a", "  path: a\n  contnet: x\n")
        + "---\n"
        + doc("Fiel", "x", "  path: x\n"),
        "m.yaml": "key: [unclosed\n",
        "b.yaml": doc("Command", "b", "  create: ${{ var.nope }}\n", extra="dependsOn: [File/a]\n"),
    }
    errors = errors_of(write(files), kinds)
    assert [e.split(": ")[0] for e in errors] == [
        "a.yaml:7:3",
        "a.yaml:10:7",
        "b.yaml:7:11",
        "m.yaml:2:1",
        "z.yaml:7:12",
    ]
    assert "unknown kind 'Fiel'" in errors[1]
    assert "unknown variable 'nope'" in errors[2]
