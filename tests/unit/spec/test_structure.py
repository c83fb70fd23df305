"""Phase 1: YAML syntax, document shape, names and duplicates."""

from __future__ import annotations

from pathlib import Path

from stackwright.core.kinds import Kind
from stackwright.registry import Registry

from .conftest import Write
from .helpers import doc, errors_of, load

FILE = "  path: a.txt\n"


def test_bad_yaml_reports_the_exact_line_and_column(write: Write, kinds: Registry[Kind]) -> None:
    root = write({"main.yaml": "apiVersion: stackwright.dev/v1\nkind: File\n  bad: [1, 2\n"})
    assert errors_of(root, kinds) == [
        "main.yaml:3:6: invalid YAML: mapping values are not allowed in this context"
    ]


def test_unclosed_flow_sequence_is_located(write: Write, kinds: Registry[Kind]) -> None:
    root = write({"main.yaml": doc("File", "a", "  path: [a.txt\n")})
    (error,) = errors_of(root, kinds)
    assert error.startswith("main.yaml:7:1: invalid YAML: ")


def test_document_must_be_a_mapping(write: Write, kinds: Registry[Kind]) -> None:
    root = write({"main.yaml": "- just\n- a list\n"})
    assert errors_of(root, kinds) == [
        "main.yaml:1:1: a document must be a mapping with apiVersion, kind, metadata and spec"
    ]


def test_unknown_top_level_key_gets_did_you_mean(write: Write, kinds: Registry[Kind]) -> None:
    root = write({"main.yaml": doc("File", "a", FILE, extra="depends_on: []\n")})
    assert errors_of(root, kinds) == [
        "main.yaml:5:1: depends_on: unknown field 'depends_on' (did you mean 'dependsOn'?)"
    ]


def test_missing_and_invalid_names(write: Write, kinds: Registry[Kind]) -> None:
    files = {
        "a.yaml": "apiVersion: stackwright.dev/v1\nkind: File\nmetadata: {}\nspec: {path: x}\n",
        "b.yaml": doc("File", "Bad_Name", FILE),
        "c.yaml": "kind: File\nmetadata: {name: c}\n",
    }
    assert errors_of(write(files), kinds) == [
        "a.yaml:3:1: metadata: metadata.name is required",
        "b.yaml:4:9: metadata.name: invalid name 'Bad_Name' (use lowercase letters, digits, '-'"
        " and '_'; start and end alphanumeric)",
        "c.yaml:1:1: apiVersion is required",
    ]


def test_duplicate_across_files_points_at_the_second(write: Write, kinds: Registry[Kind]) -> None:
    root = write({"a.yaml": doc("File", "motd", FILE), "sub/b.yaml": doc("File", "motd", FILE)})
    assert errors_of(root, kinds) == [
        "sub/b.yaml:4:9: metadata.name: File/motd is declared twice (first declared at a.yaml:2:1)"
    ]


def test_duplicate_yaml_key_is_an_error(write: Write, kinds: Registry[Kind]) -> None:
    root = write({"main.yaml": doc("File", "a", "  path: a\n  path: b\n")})
    assert errors_of(root, kinds) == ["main.yaml:7:3: duplicate key 'path' (first at line 6)"]


def test_bad_depends_on_entry(write: Write, kinds: Registry[Kind]) -> None:
    root = write({"main.yaml": doc("File", "a", FILE, extra="dependsOn: [setup]\n")})
    assert errors_of(root, kinds) == [
        "main.yaml:5:13: dependsOn.0: not a resource address: 'setup' (write it as Kind/name)"
    ]


def test_hidden_and_state_directories_are_skipped(write: Write, kinds: Registry[Kind]) -> None:
    root = write(
        {
            "main.yml": doc("File", "a", FILE),
            ".hidden/x.yaml": "not: [valid",
            ".stackwright/y.yaml": "not: [valid",
            "notes.txt": "not: [valid",
        }
    )
    assert [str(a) for a in load(root, kinds).declared] == ["File/a"]


def test_config_problems_are_located(write: Write, kinds: Registry[Kind]) -> None:
    config = (
        "project: Demo\ntargt: local\nvariables:\n  n: {type: integr}\n"
        "environments:\n  dev: {variables: {greting: x}}\ndefaultEnvironment: prd\n"
    )
    assert errors_of(write({}, config=config), kinds) == [
        "stackwright.yaml:1:10: project: invalid project name 'Demo' (use lowercase letters, "
        "digits and '-')",
        "stackwright.yaml:2:1: targt: unknown field 'targt' (did you mean 'target'?)",
        "stackwright.yaml:4:3: variables.n: variable 'n' is required and has no value in 'dev' "
        "(give it with --var n=..., $STACKWRIGHT_VAR_n, environments.dev.variables or a default)",
        "stackwright.yaml:4:13: variables.n.type: unknown type 'integr' (did you mean 'integer'?)",
        "stackwright.yaml:6:21: environments.dev.variables.greting: unknown variable 'greting' "
        "(declare it under `variables:`)",
        "stackwright.yaml:7:21: defaultEnvironment: unknown environment 'prd' (environments: dev)",
    ]


def test_missing_config(tmp_path: Path, kinds: Registry[Kind]) -> None:
    assert errors_of(tmp_path, kinds) == [
        f"stackwright.yaml: no stackwright.yaml in {tmp_path} (run `stackwright init` to create "
        "one, or pass the project directory)"
    ]
