"""CronJob on real podman, run by the daemon: runs on schedule with kept logs and history
limits, Forbid skips while a run is active, a failed run is retried, a run past its timeout
is killed; destroy leaves no container and no history."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.fixtures.cli import Project
from tests.fixtures.podman_cleanup import remove_images

pytestmark = pytest.mark.slow

EVERY_2S = "* * * * * */2"


def cron(name: str, command: str, **spec: Any) -> str:
    extra = "".join(f"  {k}: {json.dumps(v)}\n" for k, v in spec.items())
    return f"""---
apiVersion: stackwright.dev/v1
kind: CronJob
metadata: {{name: {name}}}
spec:
  schedule: "{EVERY_2S}"
  image: "${{{{ BaseImage.base.image }}}}"
  command: [sh, -c, "{command}"]
{extra}"""


BASE = """apiVersion: stackwright.dev/v1
kind: BaseImage
metadata: {name: base}
spec: {busybox: {}}
"""


def wait_for(what: str, check: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def runs(p: Project, name: str) -> list[dict[str, Any]]:
    path = p.root / ".stackwright" / "run" / "default" / "cron" / name / "runs.json"
    if not path.exists():
        path = next(p.root.glob(f".stackwright/run/*/cron/{name}/runs.json"), path)
    try:
        return list(json.loads(path.read_text())["runs"])
    except (FileNotFoundError, json.JSONDecodeError):
        return []


def containers(project: str) -> list[str]:
    done = subprocess.run(["podman", "ps", "-a", "--format", "{{.Names}}", "--filter",
                           f"label=dev.stackwright.project={project}"],
                          capture_output=True, text=True, check=True)
    return done.stdout.split()


@pytest.fixture
def cron_project(project: Project) -> Iterator[tuple[Project, str]]:
    name = f"cr{uuid.uuid4().hex[:8]}"
    project.write("stackwright.yaml", f"project: {name}\n"
                  "settings: {controllers: {cronjobs: {interval: 0.5}}}\n")
    project.write("main.yaml", BASE
                  + cron("tick", "echo tick-$(date +%s)", successfulJobsHistoryLimit=2)
                  + cron("slow", "sleep 5; echo slow done", concurrencyPolicy="Forbid")
                  + cron("flaky", "echo failing; exit 3", retries=1, failedJobsHistoryLimit=2)
                  + cron("stuck", "sleep 60", timeout=2, concurrencyPolicy="Forbid"))
    daemon: subprocess.Popen[str] | None = None
    try:
        applied = project.run("apply", "--yes")
        assert applied.code == 0, applied.out + applied.err
        daemon = project.popen("server", "--no-secrets")
        yield project, name
    finally:
        if daemon is not None:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
        project.run("destroy", "--yes")
        remove_images(f"localhost/stackwright/{name}-*")


def test_cron_jobs_run_on_schedule_under_their_policies(
    cron_project: tuple[Project, str]
) -> None:
    p, name = cron_project
    wait_for("three tick runs", lambda: sum(
        1 for r in runs(p, "tick") if r["status"] == "succeeded") >= 2 and len(
        [e for e in events(p) if e.get("event") == "cron.finished"
         and e.get("address") == "CronJob/tick"]) >= 3)
    ticks = runs(p, "tick")
    done = [r for r in ticks if r["status"] == "succeeded"]
    assert len(done) == 2, "history is cut to successfulJobsHistoryLimit"
    assert all(Path(r["log"]).read_text().startswith("tick-") for r in done)
    assert len({r["scheduled"] for r in ticks}) == len(ticks), "one run per scheduled time"

    wait_for("a skipped slow run", lambda: any(
        e.get("address") == "CronJob/slow" and "still active" in str(e.get("why"))
        for e in events(p)))
    slow = runs(p, "slow")
    assert sum(1 for r in slow if r["status"] == "running") <= 1

    wait_for("a retried failure", lambda: any(
        r["attempt"] == 2 and r["status"] == "failed" for r in runs(p, "flaky")))
    flaky = [r for r in runs(p, "flaky") if r["status"] == "failed"]
    assert all(r["exit_code"] == 3 for r in flaky) and len(flaky) <= 2
    assert Path(flaky[-1]["log"]).read_text() == "failing\n"

    wait_for("a killed stuck run", lambda: any(
        r["exit_code"] == 124 for r in runs(p, "stuck")), 30)
    stuck = [r for r in runs(p, "stuck") if r["exit_code"] == 124]
    assert "killed after 2s" in stuck[0]["note"]


def test_destroy_removes_runs_and_history(cron_project: tuple[Project, str]) -> None:
    p, name = cron_project
    wait_for("a slow run in flight", lambda: any(
        r["status"] == "running" for r in runs(p, "slow")))
    assert p.run("destroy", "--yes").code == 0
    time.sleep(1.5)  # the daemon ticks with nothing recorded any more
    assert containers(name) == []
    assert [d for d in p.root.glob(".stackwright/run/*/cron/*") if d.is_dir()] == []


def events(p: Project) -> list[dict[str, Any]]:
    path = next(p.root.glob(".stackwright/run/*/daemon.log"), None)
    if path is None:
        return []
    return [json.loads(line) for line in path.read_text().splitlines()
            if line.startswith("{")]
