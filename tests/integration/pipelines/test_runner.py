"""The runner without a daemon, through the CLI: matrix expansion, a failing step failing
its job and skipping dependents, ``if: always()``, retries, ``rerun --failed``, artifacts
downloaded, cancel stopping the running container, and push polling of a repository."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from tests.fixtures.cli import Project

from stackwright.core.engine import Engine
from stackwright.pipelines.service import PipelineService
from stackwright.pipelines.triggers import poll_push

from .conftest import AppRepo, job_of, run_doc, wait_for

pytestmark = pytest.mark.slow

MATRIX = """
jobs:
  unit:
    image: {busybox}
    matrix: {{shard: [1, 2, 3]}}
    steps:
      - run: |
          echo "shard $MATRIX_SHARD of ${{{{ matrix.shard }}}}"
          [ "$MATRIX_SHARD" != 2 ] || {{ echo "shard 2 breaks"; exit 4; }}
          mkdir -p out && echo "result $MATRIX_SHARD" > out/r.txt
    artifacts: {{paths: [out]}}
  package:
    needs: [unit]
    host: true
    steps: [{{run: "echo packaging"}}]
  report:
    needs: [unit]
    if: always()
    host: true
    steps: [{{run: "echo report runs anyway"}}]
  flaky:
    host: true
    retry: 2
    steps:
      - run: |
          n=$(cat {marker} 2>/dev/null || echo 0); echo $((n+1)) > {marker}
          echo "attempt $((n+1))"; [ $((n+1)) -ge 2 ]
"""


def _pipeline(p: Project, name: str, text: str) -> None:
    p.write(f".stackwright/pipelines/{name}.yaml", text)
    p.write("main.yaml", f"""
        apiVersion: stackwright.dev/v1
        kind: Pipeline
        metadata: {{name: {name}}}
        spec: {{}}
    """)


def test_matrix_failure_skips_dependents_always_retry_and_rerun(
        pl_project: Project, busybox: str, tmp_path: Path) -> None:
    p = pl_project
    _pipeline(p, "ci", MATRIX.format(busybox=busybox, marker=tmp_path / "attempts"))
    ran = p.run("pipeline", "run", "ci", timeout=300)
    assert ran.code == 1, ran.out + ran.err
    assert "unit-2: failed" in ran.out and "package: skipped" in ran.out
    doc = run_doc(p, "ci#1")
    status = {j["name"]: j["status"] for j in doc["jobs"]}
    assert status == {"unit-1": "success", "unit-2": "failed", "unit-3": "success",
                      "package": "skipped", "report": "success", "flaky": "success"}
    assert job_of(doc, "unit-3")["matrix"] == {"shard": 3}
    assert job_of(doc, "flaky")["attempt"] == 2
    assert "step 'step 1' exited with 4" in job_of(doc, "unit-2")["error"]
    logs = p.run("pipeline", "logs", "ci#1", "--job", "unit-2").out
    assert "shard 2 of 2" in logs and "shard 2 breaks" in logs

    got = p.run("pipeline", "artifacts", "ci#1", "--download", str(tmp_path / "dl"),
                "-o", "json")
    assert got.code == 0, got.err
    assert sorted(a["job"] for a in got.json()["artifacts"]) == ["unit-1", "unit-3"]
    assert (tmp_path / "dl" / "unit-3" / "out" / "r.txt").read_text() == "result 3\n"

    rerun = p.run("pipeline", "rerun", "ci#1", "--failed", "-o", "json", timeout=300)
    assert rerun.code == 1, rerun.out + rerun.err
    again = run_doc(p, "ci#2")
    assert again["rerun_of"] == doc["id"]
    kept = {j["name"]: j["attempt"] for j in again["jobs"]}
    assert kept["unit-1"] == 0 and kept["flaky"] == 0, "passed jobs are kept, not re-run"
    assert job_of(again, "unit-2")["attempt"] == 1
    listed = p.run("pipeline", "list", "-o", "json").json()["runs"]
    assert [r["number"] for r in listed] == [2, 1]


SLOW = """
jobs:
  long:
    image: {busybox}
    steps: [{{run: "echo started; sleep 300"}}]
  after:
    needs: [long]
    host: true
    steps: [{{run: "echo never"}}]
"""


def test_cancel_stops_the_running_container(pl_project: Project, busybox: str) -> None:
    p = pl_project
    _pipeline(p, "slow", SLOW.format(busybox=busybox))
    runner = p.popen("pipeline", "run", "slow")
    try:
        def started() -> str | None:
            doc = p.run("pipeline", "list", "-o", "json").json()["runs"]
            if not doc:
                return None
            log = p.run("pipeline", "logs", doc[0]["id"], "--job", "long").out
            return doc[0]["id"] if "started" in log else None

        run_id = wait_for("the job to start", started)
        container = job_of(run_doc(p, run_id), "long")["container"]
        assert _exists(container)
        cancelled = p.run("pipeline", "cancel", run_id, "-o", "json")
        assert cancelled.code == 0 and cancelled.json()["status"] == "cancelled", cancelled.out
        assert not _exists(container), "cancel removed the job's container"
        status = {j["name"]: j["status"] for j in run_doc(p, run_id)["jobs"]}
        assert status == {"long": "cancelled", "after": "cancelled"}
        assert runner.wait(timeout=60) == 1
    finally:
        runner.kill()
        runner.wait()


def _exists(container: str) -> bool:
    done = subprocess.run(["podman", "container", "exists", container], check=False)
    return done.returncode == 0


POLLED = """
on:
  push: {branches: [main, "release/*"]}
jobs:
  show:
    host: true
    steps:
      - uses: checkout
      - run: cat version
"""


def test_push_polling_runs_moved_branches_only(pl_project: Project, app_repo: AppRepo
                                                ) -> None:
    p = pl_project
    app_repo.write(".stackwright/pipelines/poll.yaml", POLLED)
    app_repo.write("version", "one\n")
    app_repo.push("one")
    p.write("main.yaml", f"""
        apiVersion: stackwright.dev/v1
        kind: Pipeline
        metadata: {{name: poll}}
        spec: {{repo: {app_repo.bare}}}
    """)
    service = PipelineService(Engine(p.root))
    assert poll_push(service, "poll") == [], "the first poll records where refs are"
    assert poll_push(service, "poll") == []
    app_repo.write("version", "two\n")
    sha = app_repo.push("two")
    subprocessed = subprocess.run(["git", "-C", str(app_repo.work), "push", "-q", "origin",
                                   "HEAD:refs/heads/feature"], check=True)
    assert subprocessed.returncode == 0
    started = poll_push(service, "poll")
    assert [(r["ref"], r["sha"], r["trigger"]) for r in started] == [
        ("refs/heads/main", sha, "push")], "feature is not watched"
    assert service.execute(started[0]["id"]) == "success"
    assert "two" in p.run("pipeline", "logs", started[0]["id"]).out
    assert poll_push(service, "poll") == []
    time.sleep(0.1)
    assert json.loads(p.run("pipeline", "list", "-o", "json").out)["runs"][0]["status"] == \
        "success"
