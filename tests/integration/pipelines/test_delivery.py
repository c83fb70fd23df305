"""The whole path on real git and podman: a push to a bare repository runs the pipeline
(its post-receive hook), which tests in a container, builds the image, deploys it to staging
by digest, waits for approval, deploys prod; the second push hits the cache; a waiting run
can be cancelled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.fixtures.cli import Project

from .conftest import AppRepo, job_of, run_doc, wait_for

pytestmark = pytest.mark.slow

PIPELINE = """
on:
  push: {{branches: [main]}}
environments:
  prod: {{approval: true}}
jobs:
  test:
    image: {busybox}
    cache:
      key: deps-${{{{ hashFiles('requirements.txt') }}}}
      restoreKeys: [deps-]
      paths: [.deps]
    reports: {{junit: ["reports/*.xml"]}}
    steps:
      - uses: checkout
      - name: install deps
        run: |
          if [ -f .deps/installed ]; then echo "deps from cache"
          else echo "installing deps"; sleep 3; mkdir -p .deps
               cp requirements.txt .deps/installed; fi
      - name: unit tests
        run: mkdir -p reports && sh test.sh > reports/junit.xml
  build:
    needs: [test]
    host: true
    steps:
      - uses: checkout
      - uses: build-image
        with: {{image: "localhost/{name}/web"}}
  staging:
    needs: [build]
    host: true
    environment: staging
    steps:
      - uses: deploy
        with:
          project: {platform}
          variables: {{image: "${{{{ needs.build.outputs.image }}}}"}}
  prod:
    needs: [build, staging]
    host: true
    environment: prod
    steps:
      - uses: deploy
        with:
          project: {platform}
          variables: {{image: "${{{{ needs.build.outputs.image }}}}"}}
"""

TEST_SH = """
echo '<testsuite name="app"><testcase classname="app" name="adds"/>'
echo '<testcase classname="app" name="greets"/></testsuite>'
"""


def _platform(project: Project, busybox: str, bare: Path) -> None:
    project.write("stackwright.yaml", f"""
        project: {project.name}
        defaultEnvironment: dev
        variables: {{image: "{busybox}"}}
        environments: {{dev: {{}}, staging: {{}}, prod: {{}}}}
    """)
    project.write("main.yaml", f"""
        apiVersion: stackwright.dev/v1
        kind: Pipeline
        metadata: {{name: web}}
        spec: {{repo: {bare}, hook: true}}
        ---
        apiVersion: stackwright.dev/v1
        kind: Job
        metadata: {{name: smoke}}
        spec:
          image: "${{{{ var.image }}}}"
          command: [sh, -c, "cat /srv/version 2>/dev/null || echo none"]
    """)


def _app(repo: AppRepo, project: Project, busybox: str, version: str) -> None:
    repo.write(".stackwright/pipelines/web.yaml", PIPELINE.format(
        busybox=busybox, name=project.name, platform=project.root))
    repo.write("requirements.txt", "flask==3\n")
    repo.write("test.sh", TEST_SH)
    repo.write("version", version + "\n")
    repo.write("Containerfile", f"FROM {busybox}\nCOPY version /srv/version\n")


def _smoke_log(project: Project, env: str) -> str:
    out = project.run("--env", env, "output", "Job/smoke", "-o", "json")
    assert out.code == 0, out.err
    return Path(out.json()["Job/smoke"]["log"]).read_text()


def test_push_tests_builds_deploys_staging_then_prod_after_approval(
        pl_project: Project, app_repo: AppRepo, busybox: str) -> None:
    p = pl_project
    _app(app_repo, p, busybox, "v1")
    app_repo.push("first")  # no hook yet: nothing runs
    _platform(p, busybox, app_repo.bare)
    applied = p.run("apply", "--yes")
    assert applied.code == 0, applied.out + applied.err
    hook = json.loads(p.run("output", "Pipeline/web", "-o", "json").out)["Pipeline/web"]["hook"]
    assert hook == str(app_repo.bare / "hooks" / "post-receive")

    app_repo.write("version", "v2\n")
    sha = app_repo.push("second")
    runs = wait_for("the push to start a run",
                    lambda: p.run("pipeline", "list", "-o", "json").json()["runs"])
    run = runs[0]
    assert (run["trigger"], run["ref"], run["sha"]) == ("push", "refs/heads/main", sha)
    doc = wait_for("prod to wait for approval", lambda: (
        d := run_doc(p, run["id"])) and job_of(d, "prod")["status"] == "waiting" and d)
    assert [j["status"] for j in doc["jobs"]] == ["success", "success", "success", "waiting"]
    test = job_of(doc, "test")
    assert test["tests"]["passed"] == 2 and test["tests"]["failures"] == 0
    assert test["cache"]["result"] == "miss"
    image = job_of(doc, "build")["outputs"]["image"]
    assert image.startswith(f"localhost/{p.name}/web@sha256:")
    assert _smoke_log(p, "staging") == "v2\n", "staging runs the image the pipeline built"
    assert not (p.root / ".stackwright" / "jobs" / "prod").exists(), "prod waits for approval"

    approved = p.run("pipeline", "approve", run["id"], "--job", "prod", "-o", "json")
    assert approved.code == 0 and approved.json()["approved"] == ["prod"], approved.err
    final = wait_for("the run to end", lambda: (
        d := run_doc(p, run["id"])) and d["status"] not in ("queued", "running") and d)
    assert final["status"] == "success", final
    assert job_of(final, "prod")["approved_by"]
    assert _smoke_log(p, "prod") == "v2\n"
    logs = p.run("pipeline", "logs", run["id"], "--job", "staging").out
    assert f"image={image}" in logs and "installing deps" in p.run(
        "pipeline", "logs", run["id"], "--job", "test").out

    # A second push whose requirements did not change: the cache is hit.
    app_repo.write("version", "v3\n")
    app_repo.push("third")
    second = wait_for("the second run", lambda: (
        r := p.run("pipeline", "list", "-o", "json").json()["runs"]) and len(r) == 2 and r[0])
    doc2 = wait_for("the second run to wait for approval", lambda: (
        d := run_doc(p, second["id"])) and job_of(d, "prod")["status"] == "waiting" and d)
    assert job_of(doc2, "test")["cache"]["result"] == "hit"
    assert "deps from cache" in p.run("pipeline", "logs", second["id"], "--job", "test").out
    print("test job without cache", test["duration_s"], "s; with", job_of(doc2, "test")[
        "duration_s"], "s")

    cancelled = p.run("pipeline", "cancel", second["id"], "-o", "json")
    assert cancelled.code == 0 and cancelled.json()["status"] == "cancelled", cancelled.out
    assert job_of(run_doc(p, second["id"]), "prod")["status"] == "cancelled"
    assert _smoke_log(p, "prod") == "v2\n", "a cancelled run does not deploy"
