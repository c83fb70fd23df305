"""``stackwright pipeline`` with bad input: every problem of a pipeline file at
file:line:col with its field, from ``pipeline validate`` and from ``apply``; unknown
pipelines and runs named with a hint."""

from __future__ import annotations

from .conftest import Project

BAD = """
on:
  schedule: [{cron: "every day"}]
jobs:
  test:
    host: true
    needs: [biuld]
    steps: [{uses: chekout}]
  build:
    host: true
    needs: [deploy]
    steps: [{run: make}]
  deploy:
    host: true
    needs: [build]
    steps: [{run: "true"}]
"""

PIPELINE = """
apiVersion: stackwright.dev/v1
kind: Pipeline
metadata: {name: ci}
spec: {}
"""


def test_validate_reports_every_problem_located(project: Project) -> None:
    project.write(".stackwright/pipelines/ci.yaml", BAD)
    result = project.run("pipeline", "validate")
    assert result.code == 1
    file = ".stackwright/pipelines/ci.yaml"
    lines = result.err.splitlines()
    assert any(f"{file}:2:21: on.schedule.0.cron: 'every day' is not a cron" in ln
               for ln in lines), result.err
    assert any(f"{file}:7:20: jobs.test.steps.0.uses: unknown uses 'chekout'" in ln
               for ln in lines), result.err
    as_json = project.run("pipeline", "validate", "-o", "json")
    assert as_json.code == 1 and as_json.json()["ok"] is False
    assert len(as_json.json()["errors"]) == 2, "schema errors first; semantics after a fix"

    project.write(".stackwright/pipelines/ci.yaml",
                  BAD.replace('"every day"', '"0 3 * * *"').replace("chekout", "checkout"))
    semantic = project.run("pipeline", "validate")
    assert semantic.code == 1
    assert f"{file}:6:13: jobs.test.needs.0: unknown job 'biuld'" in semantic.err
    assert "did you mean 'build'" in semantic.err
    assert "needs form a cycle: build -> deploy -> build" in semantic.err


def test_apply_refuses_an_invalid_pipeline_and_run_names_what_exists(project: Project
                                                                      ) -> None:
    project.write("main.yaml", PIPELINE)
    project.write(".stackwright/pipelines/ci.yaml", BAD)
    applied = project.run("apply", "--yes")
    assert applied.code == 1
    assert "pipeline ci is invalid" in applied.err and "ci.yaml:7:20" in applied.err
    project.write(".stackwright/pipelines/ci.yaml",
                  "jobs:\n  one: {host: true, steps: [{run: echo one-ran}]}\n")
    assert project.run("apply", "--yes").code == 0
    unknown = project.run("pipeline", "run", "cj")
    assert unknown.code == 1 and "no Pipeline 'cj'" in unknown.err and "declared: ci" in unknown.err
    ran = project.run("pipeline", "run", "ci", "-o", "json")
    assert ran.code == 0, ran.err
    assert ran.json()["status"] == "success"
    missing = project.run("pipeline", "show", "nope")
    assert missing.code == 1 and "no pipeline run 'nope'" in missing.err
    logs = project.run("pipeline", "logs", ran.json()["id"], "-o", "json")
    assert '"line": "' in logs.out and "one-ran" in logs.out
