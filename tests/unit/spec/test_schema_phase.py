"""Phases 2 and 3: kinds used, then each spec against its kind's model."""

from __future__ import annotations

from stackwright.core.kinds import Kind
from stackwright.core.model import Address
from stackwright.registry import Registry

from .conftest import FileKind, Write
from .helpers import doc, errors_of, load


def test_unknown_kind_gets_did_you_mean(write: Write, kinds: Registry[Kind]) -> None:
    root = write({"main.yaml": doc("Fiel", "a", "  path: x\n")})
    assert errors_of(root, kinds) == [
        "main.yaml:2:7: kind: unknown kind 'Fiel' (did you mean 'File'?)"
    ]


def test_only_used_kinds_are_loaded(write: Write) -> None:
    registry = Registry[Kind]("kind")
    registry.add("File", FileKind())
    root = write({"main.yaml": doc("File", "a", "  path: x\n")})
    assert list(load(root, registry).kinds) == ["File"]


def test_api_version_must_match_the_kind(write: Write, kinds: Registry[Kind]) -> None:
    text = doc("File", "a", "  path: x\n").replace("stackwright.dev/v1", "stackwright.dev/v2")
    assert errors_of(write({"main.yaml": text}), kinds) == [
        "main.yaml:1:13: apiVersion: File is not in 'stackwright.dev/v2' "
        "(use apiVersion: stackwright.dev/v1)"
    ]


def test_unknown_field_gets_did_you_mean(write: Write, kinds: Registry[Kind]) -> None:
    root = write({"main.yaml": doc("File", "a", "  path: x\n  contnet: hi\n")})
    assert errors_of(root, kinds) == [
        "main.yaml:7:3: spec.contnet: unknown field (did you mean 'content'?)"
    ]


def test_unknown_nested_field_lists_the_nested_model(write: Write, kinds: Registry[Kind]) -> None:
    spec = "  path: x\n  owner:\n    user: root\n    gruop: wheel\n"
    assert errors_of(write({"main.yaml": doc("File", "a", spec)}), kinds) == [
        "main.yaml:9:5: spec.owner.gruop: unknown field (did you mean 'group'?)"
    ]


def test_wrong_type_is_said_in_words(write: Write, kinds: Registry[Kind]) -> None:
    root = write({"main.yaml": doc("Command", "a", "  create: echo\n  timeout: abc\n")})
    assert errors_of(root, kinds) == [
        "main.yaml:7:12: spec.timeout: expected an integer, got 'abc'"
    ]


def test_missing_required_field_points_at_spec(write: Write, kinds: Registry[Kind]) -> None:
    root = write({"main.yaml": doc("File", "a", "  content: hi\n")})
    assert errors_of(root, kinds) == ["main.yaml:5:1: spec.path: required field is missing"]


def test_missing_spec_reports_required_fields(write: Write, kinds: Registry[Kind]) -> None:
    text = "apiVersion: stackwright.dev/v1\nkind: File\nmetadata: {name: a}\n"
    assert errors_of(write({"main.yaml": text}), kinds) == [
        "main.yaml:1:1: spec.path: required field is missing"
    ]


def test_type_errors_on_referencing_values_wait_for_the_plan(
    write: Write, kinds: Registry[Kind]
) -> None:
    command = doc("Command", "a", "  create: echo\n  timeout: ${{ File.b.path }}\n  tymeout: 1\n")
    files = {"main.yaml": command + "---\n" + doc("File", "b", "  path: x\n")}
    # the reference's type is only known at plan time; the unknown field is wrong regardless
    assert errors_of(write(files), kinds) == [
        "main.yaml:8:3: spec.tymeout: unknown field (did you mean 'timeout'?)"
    ]


def test_referencing_spec_is_kept_raw_for_the_planner(write: Write, kinds: Registry[Kind]) -> None:
    spec = "  create: echo ${{ var.greeting }}\n  timeout: ${{ File.b.path }}\n"
    command = doc("Command", "a", spec)
    files = {"main.yaml": command + "---\n" + doc("File", "b", "  path: x\n")}
    declared = load(write(files), kinds).declared
    assert declared[Address("Command", "a")].spec == {
        "create": "echo world",
        "timeout": "${{ File.b.path }}",
    }
    assert declared[Address("File", "b")].spec == {"path": "x"}


def test_union_errors_are_merged(write: Write, kinds: Registry[Kind]) -> None:
    root = write({"main.yaml": doc("Command", "a", "  create: echo\n  destroy: [rm]\n")})
    assert errors_of(root, kinds) == ["main.yaml:7:12: spec.destroy: expected a string, got a list"]


def test_override_errors_point_into_the_config(write: Write, kinds: Registry[Kind]) -> None:
    config = (
        "project: demo\nenvironments:\n  dev: {}\n  prod:\n    overrides:\n"
        "      Command/a: {spec: {timeout: soon}}\n"
    )
    root = write({"main.yaml": doc("Command", "a", "  create: echo\n")}, config=config)
    assert load(root, kinds, environment="dev").environment == "dev"
    assert errors_of(root, kinds, environment="prod") == [
        "stackwright.yaml:6:35: spec.timeout: expected an integer, got 'soon'"
    ]
