"""Bad input through the CLI: every error names file:line:col and the field."""

from __future__ import annotations

from .conftest import Project


def test_spec_errors_are_located_and_all_reported(project: Project) -> None:
    project.write("bad.yaml", """
        apiVersion: stackwright.dev/v1
        kind: Fiel
        metadata: {name: a}
        spec: {path: a.txt}
        ---
        apiVersion: stackwright.dev/v1
        kind: File
        metadata: {name: b}
        spec:
          path: b.txt
          contnet: oops
    """)
    result = project.run("validate")
    assert result.code == 1
    assert "bad.yaml:2:7: " in result.err and "did you mean 'File'?" in result.err
    assert "bad.yaml:11:3: spec.contnet:" in result.err and "'content'" in result.err


def test_json_errors(project: Project) -> None:
    project.write("bad.yaml", "kind: [unclosed\n")
    result = project.run("validate", "-o", "json")
    assert result.code == 1
    doc = result.json()
    assert doc["ok"] is False and doc["errors"][0].startswith("bad.yaml:")


def test_unknown_environment(project: Project) -> None:
    result = project.run("--env", "prdo", "plan")
    assert result.code == 1
    assert "did you mean 'prod'?" in result.err


def test_failed_command_stops_dependents_and_rerun_converges(project: Project) -> None:
    project.write("main.yaml", """
        apiVersion: stackwright.dev/v1
        kind: Command
        metadata: {name: flaky}
        spec:
          create: "test -f ok || { echo not yet >&2; exit 3; }"
        ---
        apiVersion: stackwright.dev/v1
        kind: Command
        metadata: {name: after}
        dependsOn: [Command/flaky]
        spec: {create: "echo after >> log.txt"}
        ---
        apiVersion: stackwright.dev/v1
        kind: Command
        metadata: {name: independent}
        spec: {create: "echo independent >> log.txt"}
    """)
    failed = project.run("apply", "--yes")
    assert failed.code == 1
    assert "Command/flaky" in failed.err and "status 3" in failed.err and "not yet" in failed.err
    assert (project.root / "log.txt").read_text() == "independent\n"
    (project.root / "ok").write_text("")
    assert project.run("apply", "--yes").code == 0
    assert (project.root / "log.txt").read_text() == "independent\nafter\n"
    assert project.run("plan", "--detailed-exitcode").code == 0
