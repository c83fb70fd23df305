"""``uses`` steps from other domains through ``stackwright.pipeline_steps``: the policy
domain's ``scan`` over a job's workspace, its SARIF kept as an artifact (also when the step
fails the job), the job failing at or above ``fail-on``; every registered step loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.fixtures.cli import Project

from stackwright.pipelines.step_api import PipelineStep, load_step, step_names

from .conftest import declare_pipeline, job_of, run_doc

pytestmark = pytest.mark.slow

PLANTED = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
PIPELINE = """
jobs:
  strict:
    host: true
    steps:
      - run: |
          mkdir -p app
          printf 'FROM {base}\\nCOPY . /app\\n' > app/Containerfile
          echo 'push with {planted} ok' > app/build.log
      - uses: scan
        with: {{path: app, fail-on: high, sarif: reports/scan.sarif}}
      - run: echo never reached
  lenient:
    host: true
    steps:
      - run: mkdir -p app && printf 'FROM {base}\\nUSER app\\n' > app/Containerfile
      - uses: scan
        with: {{path: app, fail-on: critical}}
  after:
    needs: [strict]
    host: true
    steps: [{{run: echo after}}]
"""


def test_every_registered_step_loads_and_names_itself() -> None:
    names = step_names()
    assert {"checkout", "build-image", "deploy", "test-report", "scan"} <= set(names)
    for name in names:
        step = load_step(name)
        assert isinstance(step, PipelineStep) and step.name == name and step.summary


def test_scan_step_keeps_sarif_and_fails_at_its_threshold(pl_project: Project,
                                                          tmp_path: Path) -> None:
    p = pl_project
    declare_pipeline(p, "scan", PIPELINE.format(base="localhost/base:latest",
                                                 planted=PLANTED))
    ran = p.run("pipeline", "run", "scan", timeout=300)
    assert ran.code == 1, ran.out + ran.err
    run = p.run("pipeline", "list", "-o", "json").json()["runs"][0]["id"]
    doc = run_doc(p, run)
    strict, lenient = job_of(doc, "strict"), job_of(doc, "lenient")
    assert strict["status"] == "failed" and job_of(doc, "after")["status"] == "skipped"
    assert [s["status"] for s in strict["steps"]] == ["success", "failed"]
    assert int(strict["outputs"]["failing"]) >= 2, strict["outputs"]
    assert lenient["status"] == "success", lenient
    assert lenient["outputs"]["failing"] == "0" and int(lenient["outputs"]["findings"]) >= 1

    log = p.run("pipeline", "logs", run, "--job", "strict").out
    assert "SW-CF-001" in log and "SW-SECRET" in log and "app/build.log:1" in log, log
    assert PLANTED not in log, "a secret found is never printed"

    got = p.run("pipeline", "artifacts", run, "--job", "strict", "--download",
                str(tmp_path / "dl"), "-o", "json")
    assert got.code == 0, got.out + got.err
    sarif = json.loads((tmp_path / "dl" / "strict" / "reports" / "scan.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    results = [r for run_ in sarif["runs"] for r in run_["results"]]
    rules = {r["ruleId"] for r in results}
    assert {"SW-CF-001", "SW-SECRET"} <= rules, rules
    where = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert {"app/Containerfile", "app/build.log"} <= where, where
    assert PLANTED not in json.dumps(sarif)


def test_bad_scan_inputs_fail_the_step_with_their_field(pl_project: Project) -> None:
    p = pl_project
    declare_pipeline(p, "bad", """
        jobs:
          scan:
            host: true
            steps: [{uses: scan, with: {fail-on: severe}}]
          escape:
            host: true
            steps: [{uses: scan, with: {path: ../..}}]
    """)
    assert p.run("pipeline", "run", "bad", timeout=300).code == 1
    run = p.run("pipeline", "list", "-o", "json").json()["runs"][0]["id"]
    scan_log = p.run("pipeline", "logs", run, "--job", "scan").out
    assert "scan: with.fail-on: unknown severity 'severe'" in scan_log, scan_log
    assert "low, medium, high, critical or none" in scan_log
    escape_log = p.run("pipeline", "logs", run, "--job", "escape").out
    assert "scan: with.path '../..' leaves the job's workspace" in escape_log, escape_log
