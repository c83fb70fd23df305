"""Logs as the daemon collects them from real podman containers: lines of two replicas are
all found by ``logs --grep``, ``--follow`` sees new lines, a delivered secret is masked, and
a daemon restart loses nothing and duplicates nothing.

The tests of this module run in order on one project (the daemon runs across them).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.services.helpers import STACKWRIGHT, cli, wait_for

pytestmark = pytest.mark.slow

SECRET = "tok-7f3a9c2e51"
# Every 20 ms a numbered line; every tenth an error as a JSON line; the token once.
LOOP = ('echo "token is $APP_TOKEN"; i=0; while true; do '
        'if [ $((i % 10)) -eq 0 ]; then '
        'echo "{\\"level\\":\\"error\\",\\"msg\\":\\"tick $i failed\\",\\"trace_id\\":\\"t$i\\"}"; '
        'else echo "tick $i"; fi; i=$((i+1)); sleep 0.02; done')
SPEC = f"""\
apiVersion: stackwright.dev/v1
kind: Service
metadata: {{name: worker}}
spec:
  image: {{image}}
  command: ["sh", "-c", {json.dumps(LOOP)}]
  replicas: 2
  secrets: [{{value: {SECRET}, env: APP_TOKEN}}]
"""
SETTINGS = "settings:\n  observe: {scrapeInterval: 2s}\n"


@pytest.fixture(scope="module")
def project(project_root: Path, app_ref: str) -> Iterator[Path]:
    config = project_root / "stackwright.yaml"
    config.write_text(config.read_text() + SETTINGS)
    (project_root / "main.yaml").write_text(SPEC.replace("{image}", app_ref))
    done = cli(project_root, "--env", "dev", "up")
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        yield project_root
    finally:
        cli(project_root, "--env", "dev", "down")
        cli(project_root, "--env", "dev", "destroy", "--yes", "--lock-timeout", "120")


def _logs(root: Path, *args: str) -> list[dict[str, Any]]:
    done = cli(root, "--env", "dev", "logs", "worker", "-o", "json", "--limit", "1000000",
               *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return list(json.loads(done.stdout)["lines"])


def _ticks(rows: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Replica -> the tick numbers stored, in order."""
    out: dict[str, list[int]] = {}
    for row in rows:
        match = re.search(r"tick (\d+)", row["message"])
        if match:
            out.setdefault(row["replica"], []).append(int(match.group(1)))
    return out


def test_grep_finds_the_lines_of_both_replicas(project: Path) -> None:
    wait_for("lines of two replicas", lambda: len(_ticks(_logs(project))) == 2, 60)
    rows = _logs(project, "--grep", "tick 1")
    assert {r["replica"] for r in rows} == set(_ticks(_logs(project)))
    assert all("tick 1" in r["message"] for r in rows)
    errors = _logs(project, "--level", "error")
    assert errors and all(r["level"] == "error" and r["trace_id"] for r in errors)
    assert {r["service"] for r in rows} == {"worker"} and all(r["revision"] for r in rows)


def test_a_delivered_secret_is_masked(project: Path) -> None:
    rows = _logs(project, "--grep", "token is")
    assert rows and all(r["message"] == "token is ********" for r in rows)
    assert SECRET not in (project / ".stackwright/observe/dev/logs.db").read_bytes().decode(
        errors="replace")


def test_follow_sees_new_lines(project: Path) -> None:
    proc = subprocess.Popen([STACKWRIGHT, "-C", str(project), "--env", "dev", "logs", "worker",
                             "--follow", "--limit", "1", "-o", "json"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        later = [json.loads(proc.stdout.readline()) for _ in range(30)]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert all(row["id"] > first["id"] for row in later)
    assert len({row["id"] for row in later}) == 30


def test_daemon_restart_loses_and_duplicates_nothing(project: Path) -> None:
    done = cli(project, "--env", "dev", "down", "--daemon-only")
    assert done.returncode == 0, done.stdout + done.stderr
    time.sleep(3)  # the replicas keep writing while no daemon collects
    done = cli(project, "--env", "dev", "up")
    assert done.returncode == 0, done.stdout + done.stderr
    time.sleep(2)

    def caught_up() -> bool:
        return all(len(t) > 300 for t in _ticks(_logs(project)).values())

    wait_for("collection after the restart", caught_up, 60)
    for replica, ticks in _ticks(_logs(project)).items():
        assert ticks == list(range(ticks[0], ticks[0] + len(ticks))), replica
        assert ticks[0] == 0, replica  # from the first line the replica wrote


def test_the_api_answers_the_same_query(project: Path) -> None:
    info = json.loads((project / ".stackwright/run/dev/daemon.json").read_text())
    url = f"{info['api']}/api/v1/observe/logs?service=worker&grep=tick%205&limit=50"
    with urllib.request.urlopen(url, timeout=30) as resp:
        rows = json.loads(resp.read())["lines"]
    assert rows and all("tick 5" in r["message"] for r in rows)


def _events(url: str, count: int, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The first ``count`` ``line`` events of a server-sent event stream."""
    request = urllib.request.Request(url, headers=headers or {})
    found: list[dict[str, Any]] = []
    event: dict[str, Any] = {}
    with urllib.request.urlopen(request, timeout=60) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        for raw in resp:
            line = raw.decode().rstrip("\n")
            if not line:
                if event.get("event") == "line":
                    found.append({"id": int(event["id"]), **json.loads(event["data"])})
                    if len(found) == count:
                        return found
                event = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(": ")
                event[key] = value
    return found


def test_the_api_follows_lines_as_server_sent_events(project: Path) -> None:
    info = json.loads((project / ".stackwright/run/dev/daemon.json").read_text())
    url = f"{info['api']}/api/v1/observe/logs/events?service=worker&level=error"
    first = _events(url, 8)
    assert all(r["level"] == "error" and r["message"].endswith("failed") for r in first)
    ids = [r["id"] for r in first]
    assert ids == sorted(set(ids))
    resumed = _events(url, 3, {"Last-Event-ID": str(ids[3])})
    assert [r["id"] for r in resumed] == ids[4:7]  # resumes right after the id it was given
