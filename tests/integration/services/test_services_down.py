"""`stackwright down` on real podman, HAProxy, Redis and PostgreSQL: the daemon, the service
replicas, the load balancer, the cache and the database stop; containers, volumes, data and
the record stay; `up` brings everything back (the LB serves from 2 replicas, the Redis key and
the table are there, no drift).
`down --daemon-only` stops only the daemon.

The tests of this module run in order on one project.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.fixtures.podman_cleanup import remove_images
from tests.integration.services.helpers import cli, free_port, wait_for

from stackwright.core.engine import Engine

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-cli") is None, reason="needs redis-cli"),
]

CACHE_DIR = os.environ.get("STACKWRIGHT_TEST_CACHE", "/var/tmp/stackwright-test-cache")
LB_PORT = free_port()
URL = f"http://127.0.0.1:{LB_PORT}/"
# Each replica serves its own hostname (its container ID), so answers tell replicas apart.
SERVE = ("mkdir -p /www && hostname > /www/index.html && echo ok > /www/healthz "
         "&& exec httpd -f -p 8080 -h /www")

SPEC = f"""\
apiVersion: stackwright.dev/v1
kind: BaseImage
metadata: {{name: base}}
spec: {{busybox: {{}}}}
---
apiVersion: stackwright.dev/v1
kind: Service
metadata: {{name: web}}
spec:
  image: "${{{{ BaseImage.base.image }}}}"
  command: [sh, -c, "{SERVE}"]
  ports: [8080]
  replicas: 2
  healthCheck: {{http: /healthz, interval: 200ms}}
  rollout: {{healthTimeout: 15s, drainTimeout: 2s}}
---
apiVersion: stackwright.dev/v1
kind: LoadBalancer
metadata: {{name: edge}}
spec:
  http:
    port: {LB_PORT}
    routes: [{{service: "${{{{ Service.web.id }}}}", port: 8080}}]
  checkInterval: 500ms
---
apiVersion: stackwright.dev/v1
kind: Cache
metadata: {{name: cache}}
spec: {{maxmemory: 32mb}}
---
apiVersion: stackwright.dev/v1
kind: Database
metadata: {{name: db}}
spec: {{database: shop, user: app}}
"""
SETTINGS = f"""\
settings:
  images: {{cacheDir: {CACHE_DIR}}}
"""
RUNNING_PARTS = ["Cache/cache", "Database/db", "LoadBalancer/edge", "Service/web"]


def project_of(root: Path) -> str:
    return (root / "stackwright.yaml").read_text().splitlines()[0].split(":", 1)[1].strip()


def containers(project: str, *, all_states: bool = False,
               resource: str | None = None) -> dict[str, str]:
    """The project's containers (running only, unless ``all_states``): name -> state."""
    args = ["podman", "ps", "--format", "json", "--filter",
            f"label=dev.stackwright.project={project}"]
    args += [f"--filter=label=dev.stackwright.resource={resource}"] if resource else []
    done = subprocess.run(args + (["--all"] if all_states else []), capture_output=True,
                          text=True, check=True)
    return {c["Names"][0]: c["State"] for c in json.loads(done.stdout or "[]")}


def answers() -> set[str]:
    """The replicas (hostnames) that answered 200 through HAProxy in 20 requests."""
    seen: set[str] = set()
    for _ in range(20):
        with urllib.request.urlopen(URL, timeout=3) as resp:
            assert resp.status == 200
            seen.add(resp.read().decode().strip())
    return seen


def serves_two() -> bool:
    try:
        return len(answers()) == 2
    except OSError:
        return False


def listens(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def outputs(root: Path, address: str) -> dict[str, Any]:
    """A resource's recorded outputs, passwords decrypted (as a client gets them)."""
    engine = Engine(root)
    try:
        rec = next(r for a, r in engine.snapshot().resources.items() if str(a) == address)
        return {"id": rec.id, **rec.outputs}
    finally:
        engine.close()


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


def redis(out: dict[str, Any], *command: str) -> str:
    env = {**os.environ, "REDISCLI_AUTH": out["password"]}
    done = subprocess.run(["redis-cli", "-h", out["host"], "-p", str(out["port"]), *command],
                          capture_output=True, text=True, env=env, check=False, timeout=30)
    return done.stdout.strip()


def daemon_pid(root: Path) -> int:
    info = root / ".stackwright" / "run" / "dev" / "daemon.json"
    return int(json.loads(info.read_text())["pid"])


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def up(root: Path) -> None:
    done = cli(root, "up")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def stack(project_root: Path) -> Iterator[Path]:
    config = project_root / "stackwright.yaml"
    config.write_text(config.read_text() + SETTINGS)
    (project_root / "main.yaml").write_text(SPEC)
    try:
        up(project_root)
        yield project_root
    finally:
        cli(project_root, "down", "--daemon-only")
        cli(project_root, "destroy", "--yes", "--lock-timeout", "120")
        remove_images(f"localhost/stackwright/{project_of(project_root)}-*")


def test_down_stops_components_and_up_brings_them_back(stack: Path) -> None:
    root, project = stack, project_of(stack)
    wait_for("the LB serving from 2 replicas", serves_two, 30)
    cache, db = outputs(root, "Cache/cache"), outputs(root, "Database/db")
    assert redis(cache, "SET", "visits", "41") == "OK"
    query(db["url"], "CREATE TABLE orders AS SELECT 7 AS id")
    pid = daemon_pid(root)
    replicas = containers(project, all_states=True, resource="Service/web")
    assert sorted(replicas.values()) == ["running", "running"]
    haproxy = int((root / ".stackwright/run/dev/haproxy/edge/haproxy.pid").read_text().split()[0])

    done = cli(root, "down", "--output", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    assert doc == {"ok": True, "stopped": pid, "suspended": doc["suspended"]}
    assert sorted(doc["suspended"]) == RUNNING_PARTS
    assert doc["suspended"].index("LoadBalancer/edge") < doc["suspended"].index("Service/web")

    assert not alive(pid) and not (root / ".stackwright/run/dev/daemon.json").exists()
    assert containers(project) == {}, "no container of the project runs"
    kept = containers(project, all_states=True)
    assert set(replicas) | {cache["container"], db["container"]} <= set(kept), "only stopped"
    assert all(state in ("exited", "stopped") for state in kept.values()), kept
    assert not alive(haproxy) and not listens(LB_PORT)
    for volume in (cache["volume"], db["volume"]):
        exists = subprocess.run(["podman", "volume", "exists", volume], check=False)
        assert exists.returncode == 0, f"the volume {volume} stays"

    shown = cli(root, "status", "--output", "json")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    status = json.loads(shown.stdout)
    health = {r["address"]: r["health"] for r in status["resources"]}
    assert status["daemon"] is None
    assert all(health[a] != "healthy" for a in RUNNING_PARTS), health
    assert health["BaseImage/base"] == "healthy"

    up(root)
    wait_for("the LB serving from 2 replicas again", serves_two, 30)
    assert redis(outputs(root, "Cache/cache"), "GET", "visits") == "41", "the data survived"
    assert query(outputs(root, "Database/db")["url"], "SELECT id FROM orders") == [(7,)]
    after = containers(project, all_states=True, resource="Service/web")
    assert sorted(after.values()) == ["running", "running"], "stopped replicas replaced"
    plan = cli(root, "plan", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr


def test_daemon_only_leaves_components_running(stack: Path) -> None:
    root, project = stack, project_of(stack)
    before = containers(project)
    assert len(before) == 4 and listens(LB_PORT)
    pid = daemon_pid(root)
    done = cli(root, "down", "--daemon-only", "--output", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == {"ok": True, "stopped": pid, "suspended": []}
    assert not alive(pid)
    assert containers(project) == before and serves_two()

    text = cli(root, "down")
    assert text.returncode == 0, text.stdout + text.stderr
    assert "No daemon was running." in text.stdout
    for address in RUNNING_PARTS:
        assert f"{address} stopped" in text.stdout, text.stdout
    assert "Stopped 4 component(s)" in text.stdout
    assert containers(project) == {} and not listens(LB_PORT)
    again = cli(root, "down")
    assert again.returncode == 0 and "Stopped 0 component(s)" in again.stdout, again.stdout
