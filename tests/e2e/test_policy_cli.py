"""Policy gates, policy test and scan through the CLI, as a user runs them."""

from __future__ import annotations

import json

from stackwright.policy.sarif import SCHEMA_PATH
from tests.fixtures.cli import Project

POLICY = """
    apiVersion: stackwright.dev/v1
    kind: File
    metadata: {{name: motd, labels: {{owner: ann}}}}
    spec: {{path: out/motd.txt, content: hello}}
    ---
    apiVersion: stackwright.dev/v1
    kind: Policy
    metadata: {{name: baseline}}
    spec:
      library: [required-labels]
      params: {{labelled_kinds: [File]}}
      enforcement: {{prod: {level}, "*": advisory}}
"""


def test_prod_apply_of_an_unlabelled_resource_is_refused_before_anything_changes(
        project: Project) -> None:
    project.write("main.yaml", POLICY.format(level="hard-mandatory"))
    plan = project.run("--env", "prod", "plan")
    assert plan.code == 0, plan.err
    assert "Plan checks: 1 result(s), 1 mandatory denial(s)." in plan.out
    assert "File/motd: missing required label(s) team, cost-center" in plan.out
    refused = project.run("--env", "prod", "apply", "--yes")
    assert refused.code == 1
    assert "the plan is refused by 1 mandatory check result(s)" in refused.err
    assert not (project.root / "out" / "motd.txt").exists()
    assert project.run("--env", "prod", "state", "list", "-o", "json").json()["resources"] == []
    saved = project.run("--env", "prod", "plan", "--out", "p.json", "-o", "json")
    assert saved.json()["checks"][0]["enforcement"] == "hard-mandatory"
    assert project.run("--env", "prod", "apply", "p.json").code == 1
    assert project.run("--env", "prod", "apply", "--yes", "--override", "x").code == 1
    assert not (project.root / "out" / "motd.txt").exists()


def test_advisory_only_warns(project: Project) -> None:
    project.write("main.yaml", POLICY.format(level="hard-mandatory"))
    applied = project.run("--env", "dev", "apply", "--yes")
    assert applied.code == 0, applied.err
    assert "deny [advisory] Policy/baseline required_labels: File/motd" in applied.out
    assert (project.root / "out" / "motd.txt").read_text() == "hello"


def test_soft_mandatory_passes_with_an_override_reason_in_the_audit_log(
        project: Project) -> None:
    project.write("main.yaml", POLICY.format(level="soft-mandatory"))
    refused = project.run("--env", "prod", "apply", "--yes")
    assert refused.code == 1 and "--override REASON" in refused.err
    done = project.run("--env", "prod", "apply", "--yes", "--override", "INC-42: labels follow")
    assert done.code == 0, done.err
    log = project.run("--env", "prod", "audit", "log", "-o", "json").json()
    overrides = [e for e in log if e["action"] == "plan.checks_overridden"]
    assert [e["data"]["reason"] for e in overrides] == ["INC-42: labels follow"]
    assert overrides[0]["data"]["results"][0]["address"] == "File/motd"
    assert project.run("--env", "prod", "audit", "verify").code == 0


def test_policy_test_runs_test_rules_and_a_broken_one_fails(project: Project) -> None:
    project.write("policies/deletes.rego", """
        package team.deletes
        import rego.v1
        deny contains msg if {
          some c in input.changes
          c.action == "delete"
          input.environment == "prod"
          msg := concat("", [c.address, ": no deletes in prod"])
        }
    """)
    project.write("policies/deletes_test.rego", """
        package team.deletes
        import rego.v1
        test_delete_in_prod_denied if {
          found := deny with input.changes as [{"address": "File/a", "action": "delete"}]
            with input.environment as "prod"
          count(found) == 1
        }
        test_create_allowed if {
          found := deny with input.changes as [{"address": "File/a", "action": "create"}]
            with input.environment as "prod"
          count(found) == 0
        }
    """)
    project.write("main.yaml", """
        apiVersion: stackwright.dev/v1
        kind: Policy
        metadata: {name: deletes}
        spec:
          modules: [{file: policies/deletes.rego}]
          tests: [policies/deletes_test.rego]
    """)
    ok = project.run("policy", "test", "-o", "json")
    assert ok.code == 0, ok.out + ok.err
    assert (ok.json()["passed"], ok.json()["failed"]) == (2, 0)
    assert project.run("policy", "test", "--library").code == 0
    project.write("policies/deletes_test.rego", """
        package team.deletes
        import rego.v1
        test_create_denied if {
          found := deny with input.changes as [{"address": "File/a", "action": "create"}]
          count(found) == 1
        }
    """)
    broken = project.run("policy", "test")
    assert broken.code == 1
    assert "FAIL data.team.deletes.test_create_denied" in broken.out


def test_bad_rego_is_an_error_with_file_line_and_column(project: Project) -> None:
    project.write("policies/bad.rego", "package bad\n\ndeny contains msg if {\n  msg := \n}\n")
    project.write("main.yaml", """
        apiVersion: stackwright.dev/v1
        kind: File
        metadata: {name: motd}
        spec: {path: out/motd.txt, content: hello}
        ---
        apiVersion: stackwright.dev/v1
        kind: Policy
        metadata: {name: bad}
        spec: {modules: [{file: policies/bad.rego}]}
    """)
    result = project.run("plan", "-o", "json")
    assert result.code == 1
    doc = result.json()  # rego-cpp's own printing does not reach stdout
    assert doc["errors"] == ["policies/bad.rego:4:7: spec.modules[0]: Rego: Invalid assignment "
                             "operator (Rego v1 syntax: `deny contains msg if { ... }`)"]


def test_scan_reports_containerfile_secrets_and_spec_findings_as_valid_sarif(
        project: Project) -> None:
    import jsonschema

    project.write("app/Containerfile", "FROM debian:bookworm\nENV DB_PASSWORD=hunter2\n"
                                       "USER root\nHEALTHCHECK CMD true\n")
    project.write("logs/build.log", "push with ghp_abcdefghijklmnopqrstuvwxyz0123456789 ok\n")
    project.write("main.yaml", """
        apiVersion: stackwright.dev/v1
        kind: File
        metadata: {name: motd}
        spec: {path: out/motd.txt, content: hello}
        ---
        apiVersion: stackwright.dev/v1
        kind: Service
        metadata: {name: web, labels: {owner: ann, team: pay, cost-center: "42"}}
        spec:
          image: nginx:1.27
          env: {API_TOKEN: not-a-reference}
    """)
    result = project.run("scan", ".", "--sarif", "out.sarif", "-o", "json")
    assert result.code == 1, result.err
    found = {(f["rule"], f["file"], f["line"]) for f in result.json()["findings"]}
    assert {("SW-CF-002", "app/Containerfile", 3), ("SW-CF-003", "app/Containerfile", 2),
            ("SW-SECRET", "logs/build.log", 1), ("SW-POL-secret_refs", "main.yaml", 7),
            ("SW-POL-resource_limits", "main.yaml", 7)} <= found
    assert not any(r == "SW-POL-required_labels" for r, _, _ in found)
    assert "ghp_abcdefghijklmnopqrstuvwxyz" not in result.out
    sarif = json.loads((project.root / "out.sarif").read_text())
    jsonschema.Draft4Validator(json.loads(SCHEMA_PATH.read_text())).validate(sarif)
    assert project.run("scan", ".", "--fail-on", "none").code == 0
    assert project.run("scan", "app", "--fail-on", "critical").code == 1
