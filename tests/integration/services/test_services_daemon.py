"""The daemon's controllers on real podman and HAProxy: a killed replica is replaced and a
killed HAProxy restarted without anyone running apply; a restarted daemon redeploys nothing.

The tests of this module run in order on one project (the daemon runs across them).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.services.helpers import STACKWRIGHT, cli, free_port, get, wait_for

pytestmark = pytest.mark.slow





LB_PORT = free_port()
URL = f"http://127.0.0.1:{LB_PORT}/"

SPEC = """\
apiVersion: stackwright.dev/v1
kind: Service
metadata: {{name: web}}
spec:
  image: {image}
  ports: [8080]
  replicas: 2
  healthCheck: {{http: /healthz, interval: 200ms}}
  rollout: {{healthTimeout: 10s, drainTimeout: 3s}}
---
apiVersion: stackwright.dev/v1
kind: LoadBalancer
metadata: {{name: edge}}
spec:
  http:
    port: {lb}
    routes: [{{service: "${{{{ Service.web.id }}}}", port: 8080}}]
  checkInterval: 500ms
"""
SETTINGS = """\
settings:
  controllers:
    services: {interval: 0.5}
    loadbalancers: {interval: 0.5}
"""






def running(project: str) -> list[str]:
    """IDs of the project's running containers (a replacement keeps its replica's name)."""
    done = subprocess.run(["podman", "ps", "--no-trunc", "--format", "{{.ID}}", "--filter",
                           f"label=dev.stackwright.project={project}"],
                          capture_output=True, text=True, check=True)
    return sorted(done.stdout.split())




def answers() -> bool:
    try:
        return get(URL, timeout=1) == "v1"
    except (OSError, http.client.HTTPException):  # HAProxy killed in the middle of a reply
        return False


class Daemon:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.info = root / ".stackwright" / "run" / "dev" / "daemon.json"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> dict[str, object]:
        self.proc = subprocess.Popen([STACKWRIGHT, "-C", str(self.root), "server",
                                      "--no-secrets"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for("daemon.json", self.info.exists, 30)
        return dict(json.loads(self.info.read_text()))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        self.proc = None

    def status(self) -> dict[str, object]:
        api = json.loads(self.info.read_text())["api"]
        with urllib.request.urlopen(f"{api}/api/v1/status", timeout=10) as resp:
            return dict(json.loads(resp.read()))

    def log_events(self) -> list[dict[str, object]]:
        text = (self.root / ".stackwright" / "run" / "dev" / "daemon.log").read_text()
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def daemon(project_root: Path, images: dict[str, str]) -> Iterator[Daemon]:
    config = project_root / "stackwright.yaml"
    config.write_text(config.read_text() + SETTINGS)
    (project_root / "services.yaml").write_text(SPEC.format(image=images["v1"], lb=LB_PORT))
    done = cli(project_root, "apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    d = Daemon(project_root)
    d.start()
    try:
        yield d
    finally:
        d.stop()
        cli(project_root, "destroy", "--yes", "--lock-timeout", "120")


class Load:
    """Requests through HAProxy from a thread, counting failures."""

    def __init__(self) -> None:
        self.ok, self.failures = 0, []  # type: ignore[var-annotated]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                get(URL)
                self.ok += 1
            except OSError as exc:
                self.failures.append(repr(exc))
            time.sleep(0.02)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def project_of(root: Path) -> str:
    return (root / "stackwright.yaml").read_text().splitlines()[0].split(":", 1)[1].strip()


def test_killed_replica_is_replaced_by_the_daemon(daemon: Daemon, project_root: Path) -> None:
    project = project_of(project_root)
    before = running(project)
    assert len(before) == 2 and answers()
    with Load() as load:
        subprocess.run(["podman", "rm", "-f", "-t", "0", before[0]], check=True,
                       capture_output=True)
        took = wait_for("a replacement replica", lambda: len(running(project)) == 2
                        and running(project) != before)
        wait_for("the repair recorded", lambda: "service.repaired" in
                 [e["event"] for e in daemon.log_events()], 30)
        time.sleep(0.5)
    after = running(project)
    assert before[1] in after and before[0] not in after
    assert load.failures == [], load.failures[:3]
    assert load.ok > 10
    status = daemon.status()
    services = next(c for c in status["controllers"] if c["name"] == "services")  # type: ignore[attr-defined, index]
    assert services["repairs"] >= 1 and services["last_error"] is None
    history = json.loads(cli(project_root, "state", "history", "--output", "json").stdout)
    repairs = [r for r in history if r["actor"].startswith("daemon/services")]
    assert repairs and {r["operation"] for r in repairs} == {"repair"}, history[-3:]
    print(f"replica replaced in {took:.2f}s")
    shown = json.loads(cli(project_root, "status", "--output", "json").stdout)
    assert shown["api"] == json.loads(daemon.info.read_text())["api"]
    rows = {r["address"]: r for r in shown["resources"]}
    web = rows["Service/web"]
    assert web["health"] == "healthy" and web["outputs"]["replicas"] == "2/2"
    assert len(web["outputs"]["endpoints"]) == 2 and web["outputs"]["revision"]
    assert rows["LoadBalancer/edge"]["outputs"]["url"] == URL.rstrip("/")
    assert cli(project_root, "plan", "--detailed-exitcode").returncode == 0


def test_unhealthy_replica_is_replaced_although_it_runs(daemon: Daemon,
                                                        project_root: Path) -> None:
    project = project_of(project_root)
    before = running(project)
    assert len(before) == 2

    def repairs() -> int:
        return [e["event"] for e in daemon.log_events()].count("service.repaired")

    done = repairs()
    with Load() as load:
        subprocess.run(["podman", "--runtime", "runc", "exec", before[0], "rm", "/www/healthz"],
                       check=True, capture_output=True)
        took = wait_for("the unhealthy replica replaced", lambda: len(running(project)) == 2
                        and before[0] not in running(project), 30)
        wait_for("the repair recorded", lambda: repairs() > done, 30)
        time.sleep(0.5)
    assert before[1] in running(project)
    assert load.failures == [], load.failures[:3]
    started = [e for e in daemon.log_events() if e["event"] == "service.repair_started"]
    assert "health checks in a row" in str(started[-1]["reason"]), started[-1]
    assert "GET http://127.0.0.1:" in str(started[-1]["reason"])
    assert answers() and cli(project_root, "plan", "--detailed-exitcode").returncode == 0
    print(f"unhealthy replica replaced in {took:.2f}s")


def test_killed_haproxy_is_restarted(daemon: Daemon, project_root: Path) -> None:
    pid_file = project_root / ".stackwright" / "run" / "dev" / "haproxy" / "edge" / "haproxy.pid"
    pid = int(pid_file.read_text().split()[0])
    os.kill(pid, signal.SIGKILL)

    def restarted() -> bool:  # a new master answers (the gap may be shorter than a poll)
        try:
            return int(pid_file.read_text().split()[0]) != pid and answers()
        except (OSError, ValueError, IndexError):
            return False

    wait_for("haproxy restarted", restarted, 30)
    wait_for("the restart logged", lambda: "loadbalancer.restarted" in
             [e["event"] for e in daemon.log_events()], 10)


def test_restarted_daemon_redeploys_nothing(daemon: Daemon, project_root: Path) -> None:
    project = project_of(project_root)
    before = running(project)
    daemon.stop()
    daemon.start()
    time.sleep(3)  # several controller ticks
    assert running(project) == before
    assert cli(project_root, "plan", "--detailed-exitcode").returncode == 0


def test_controllers_can_be_disabled(daemon: Daemon, project_root: Path) -> None:
    daemon.stop()
    config = project_root / "stackwright.yaml"
    config.write_text(config.read_text().replace("services: {interval: 0.5}",
                                                 "services: {enabled: false}"))
    daemon.start()
    names = [c["name"] for c in daemon.status()["controllers"]]  # type: ignore[attr-defined, index]
    assert "services" not in names and "loadbalancers" in names
