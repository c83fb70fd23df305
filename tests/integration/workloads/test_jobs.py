"""Job on real podman through the CLI: runs once, keeps its log, re-runs on change; a failing
job is retried and fails apply with its output; a job past its timeout is killed."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
from tests.fixtures.cli import Project
from tests.fixtures.podman_cleanup import remove_images

pytestmark = pytest.mark.slow


def _spec(command: str, retries: int = 0, timeout: int = 60, marker: str = "1") -> str:
    return f"""
apiVersion: stackwright.dev/v1
kind: BaseImage
metadata: {{name: base}}
spec: {{busybox: {{}}}}
---
apiVersion: stackwright.dev/v1
kind: Job
metadata: {{name: task}}
spec:
  image: "${{{{ BaseImage.base.image }}}}"
  command: [sh, -c, "{command}"]
  retries: {retries}
  timeout: {timeout}
  triggers: {{marker: "{marker}"}}
"""


@pytest.fixture
def job_project(project: Project) -> Project:
    name = f"jb{uuid.uuid4().hex[:8]}"
    project.write("stackwright.yaml", f"project: {name}\n")
    yield project
    remove_images(f"localhost/stackwright/{name}-*")


def test_job_runs_once_and_again_on_change(job_project: Project) -> None:
    p = job_project
    p.write("main.yaml", _spec("echo job ran"))
    first = p.run("apply", "--yes")
    assert first.code == 0, first.out + first.err
    out = p.run("output", "Job/task", "-o", "json").json()["Job/task"]
    assert out["exit_code"] == 0 and out["attempts"] == 1
    assert open(out["log"]).read() == "job ran\n"
    assert p.run("plan", "--detailed-exitcode").code == 0, "a finished job does not re-run"
    p.write("main.yaml", _spec("echo job ran again", marker="2"))
    assert "-/+ Job/task must be replaced" in p.run("plan").out
    assert p.run("apply", "--yes").code == 0
    assert open(out["log"]).read() == "job ran again\n"
    assert p.run("destroy", "--yes").code == 0


def test_failing_job_is_retried_then_fails_apply(job_project: Project) -> None:
    p = job_project
    p.write("main.yaml", _spec("echo boom-output; exit 3", retries=1))
    failed = p.run("apply", "--yes")
    assert failed.code == 1
    assert "job failed after 2 run(s)" in failed.err and "boom-output" in failed.err
    p.write("main.yaml", _spec("sleep 30", timeout=2, marker="t"))
    slow = p.run("apply", "--yes")
    assert slow.code == 1 and "exit 124" in slow.err and "killed after 2.0s" in slow.err
    left = subprocess.run(["podman", "ps", "-a", "--format", "json", "--filter",
                           "label=dev.stackwright.resource=Job/task"],
                          capture_output=True, text=True, check=False)
    assert json.loads(left.stdout or "[]") == [], "no run container is left behind"
