"""Database (PostgreSQL) and Cache (Redis) on real podman, through the CLI.

Real clients over TCP with the recorded outputs (psycopg; redis-cli from Debian's
redis-tools): data survives destroy, a container removed behind Stackwright's back and a
crash of the server; the same password keeps working; the password never shows in the state
file, ``podman inspect``, the container logs or the CLI's output; a taken port is a clear
error that leaves nothing behind. The data image is built once per machine (about 80-110 s)
into the test cache and reused.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from tests.fixtures.cli import Project
from tests.fixtures.podman_cleanup import object_name, remove_project_objects

from stackwright.core.engine import Engine
from stackwright.core.kinds import DriverContext
from stackwright.data.image import ensure_data_image

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("podman") is None or shutil.which("redis-cli") is None,
                       reason="needs podman and redis-cli"),
    pytest.mark.skipif(os.environ.get("STACKWRIGHT_TEST_DEBOOTSTRAP") == "0",
                       reason="STACKWRIGHT_TEST_DEBOOTSTRAP=0: the data image cannot be built"),
]
CACHE_DIR = os.environ.get("STACKWRIGHT_TEST_CACHE", "/var/tmp/stackwright-test-cache")
APPLY_TIMEOUT = 600  # the first run on a machine builds the data image


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", "--runtime", "runc", *args], capture_output=True,
                          text=True, check=False)


@pytest.fixture
def data_project(project: Project) -> Iterator[Project]:
    """A uniquely named project; its containers and volumes are removed afterwards."""
    name = f"dt{uuid.uuid4().hex[:8]}"
    project.write("stackwright.yaml", f"""
        project: {name}
        settings:
          images: {{cacheDir: {CACHE_DIR}}}
    """)
    project.name = name  # type: ignore[attr-defined]
    yield project
    remove_project_objects(name, project.root)


@pytest.fixture(scope="module")
def data_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The data image's ref (built here if this machine has never built it)."""
    ctx = DriverContext(project_dir=tmp_path_factory.mktemp("image"), environment="test",
                        settings={"images": {"cacheDir": CACHE_DIR}})
    return ensure_data_image(ctx)


def recorded(project: Project, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """Every resource's recorded outputs, sensitive ones decrypted (as a service gets them)."""
    monkeypatch.setenv("STACKWRIGHT_KEY_DIR", project.env["STACKWRIGHT_KEY_DIR"])
    engine = Engine(project.root)
    try:
        return {str(a): {"id": r.id, **r.outputs}
                for a, r in engine.snapshot().resources.items()}
    finally:
        engine.close()


def apply(project: Project) -> str:
    done = project.run("apply", "--yes", timeout=APPLY_TIMEOUT)
    assert done.code == 0, done.out + done.err
    return done.out + done.err


def redis_cli(out: dict[str, Any], *command: str, password: str | None = None) -> str:
    env = {**os.environ, "REDISCLI_AUTH": password or out["password"]}
    done = subprocess.run(["redis-cli", "-h", out["host"], "-p", str(out["port"]), *command],
                          capture_output=True, text=True, env=env, check=False, timeout=30)
    return done.stdout.strip()


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


def _spec(subnet: str, cache_extra: str = "", db_settings: str = "{max_connections: 40}") -> str:
    return f"""
apiVersion: stackwright.dev/v1
kind: Network
metadata: {{name: backend}}
spec: {{subnet: {subnet}}}
---
apiVersion: stackwright.dev/v1
kind: Database
metadata: {{name: db}}
spec:
  database: shop
  user: app
  network: "${{{{ Network.backend.name }}}}"
  settings: {db_settings}
---
apiVersion: stackwright.dev/v1
kind: Cache
metadata: {{name: cache}}
spec:
  maxmemory: 32mb
  network: "${{{{ Network.backend.name }}}}"{cache_extra}
"""


def secretly(condition: bool, message: str) -> None:
    """Assert without pytest printing the values involved (they hold passwords)."""
    assert condition, message


def _secret_free(project: Project, password: str, containers: list[str], *texts: str) -> None:
    state_files = sorted((project.root / ".stackwright").glob("state.db*"))
    assert state_files, "the state is in .stackwright/state.db"
    for path in state_files:
        secretly(password.encode() not in path.read_bytes(), f"password in clear in {path}")
    for container in containers:
        inspect = podman("container", "inspect", container)
        assert inspect.returncode == 0
        secretly(password not in inspect.stdout, f"password in podman inspect {container}")
        logs = podman("logs", container)
        secretly(password not in logs.stdout + logs.stderr, f"password in logs of {container}")
    for i, text in enumerate(texts):
        secretly(password not in text, f"password in CLI output #{i}")


def test_database_and_cache_keep_data_and_password(
    data_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = data_project
    name = p.name  # type: ignore[attr-defined]
    p.write("main.yaml", _spec(f"10.214.{random.randint(1, 250)}.0/24"))
    first = apply(p)
    out = recorded(p, monkeypatch)
    db, cache = out["Database/db"], out["Cache/cache"]
    assert (db["user"], db["database"], db["host"]) == ("app", "shop", "127.0.0.1")
    secretly(len(db["password"]) == 32, "a 32-character password")
    assert db["container"] == object_name(name, p.root, "default", "db")
    assert db["internalHost"] == "db" and db["internalPort"] == 5432

    query(db["url"], "CREATE TABLE orders (id int PRIMARY KEY, item text)")
    query(db["url"], "INSERT INTO orders VALUES (1, 'book') RETURNING id")
    setting = query(db["url"], "SHOW max_connections")
    assert setting == [("40",)]
    replies = [redis_cli(cache, "SET", "visits", "41"), redis_cli(cache, "INCR", "visits"),
               redis_cli(cache, "PING", password="not-the-password")]
    assert replies == ["OK", "42", "NOAUTH Authentication required."]

    _check_reachable_on_network(p, name, db)
    plan = p.run("plan", "--detailed-exitcode")
    assert plan.code == 0, plan.out + plan.err
    shown = p.run("output", "-o", "json").json()
    assert shown["Database/db"]["password"] == "(sensitive)"
    assert shown["Cache/cache"]["url"] == "(sensitive)"
    for secret in (db["password"], cache["password"]):
        _secret_free(p, secret, [db["container"], cache["container"]], first,
                     plan.out + plan.err, json.dumps(shown))

    destroyed = p.run("destroy", "--yes")
    assert destroyed.code == 0, destroyed.out + destroyed.err
    assert podman("container", "exists", db["container"]).returncode == 1
    assert podman("volume", "exists", db["volume"]).returncode == 0, "data is kept"
    assert podman("volume", "exists", cache["volume"]).returncode == 0

    apply(p)
    again = recorded(p, monkeypatch)
    secretly(again["Database/db"]["password"] == db["password"], "the same password")
    secretly(again["Cache/cache"]["password"] == cache["password"], "the same password")
    assert again["Database/db"]["port"] == db["port"], "the port is kept with the data"
    rows = query(db["url"], "SELECT item FROM orders")
    visits = redis_cli(cache, "GET", "visits")
    assert (rows, visits) == ([("book",)], "42")


def _check_reachable_on_network(p: Project, name: str, db: dict[str, Any]) -> None:
    """Another container on the network reaches the servers by their resource names."""
    image = podman("container", "inspect", db["container"], "--format", "{{.ImageName}}")
    net = object_name(name, p.root, "default", "backend")
    probe = podman("run", "--rm", "--ulimit", "nofile=16384:16384", "--ulimit",
                   "nproc=16384:16384", "--network", net, "--label",
                   f"dev.stackwright.project={name}", image.stdout.strip(), "sh", "-c",
                   "PATH=$(ls -d /usr/lib/postgresql/*/bin):$PATH; pg_isready -h db -p 5432 "
                   "&& redis-cli -h cache -p 6379 PING")
    assert "db:5432 - accepting connections" in probe.stdout, probe.stdout + probe.stderr
    assert "NOAUTH" in probe.stdout, "redis answers, and wants the password"


def test_removed_stopped_and_crashed_containers_come_back(
    data_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = data_project
    subnet = f"10.215.{random.randint(1, 250)}.0/24"
    p.write("main.yaml", _spec(subnet))
    apply(p)
    out = recorded(p, monkeypatch)
    db, cache = out["Database/db"], out["Cache/cache"]
    query(db["url"], "CREATE TABLE t AS SELECT 7 AS n")
    reply = redis_cli(cache, "SET", "k", "v")
    assert reply == "OK"

    assert podman("rm", "--force", db["container"]).returncode == 0
    plan = p.run("plan")
    assert "+ Database/db will be created" in plan.out, plan.out + plan.err
    apply(p)
    secretly(recorded(p, monkeypatch)["Database/db"]["password"] == db["password"],
             "the same password after the container was re-created")
    rows = query(db["url"], "SELECT n FROM t")
    assert rows == [(7,)]
    assert p.run("plan", "--detailed-exitcode").code == 0

    assert podman("stop", cache["container"]).returncode == 0
    drift = p.run("drift")
    assert drift.code == 2 and "Cache/cache" in drift.out, drift.out + drift.err
    apply(p)
    reply = redis_cli(cache, "GET", "k")
    assert reply == "v"
    assert p.run("plan", "--detailed-exitcode").code == 0

    # podman restarts a crashed server by itself: no Stackwright process is involved.
    crash = podman("exec", db["container"], "sh", "-c",
                   "kill -9 $(head -n 1 /data/pgdata/postmaster.pid)")
    # The kill ends the container's main process, and the exec session with it: podman may
    # then fail to find the session's exit event and say so with 255. Whether the server
    # crashed is what the restart count below shows.
    assert crash.returncode == 0 or "exec died event" in crash.stderr, crash.stderr
    back = _eventually(lambda: query(db["url"], "SELECT n FROM t") == [(7,)], 60)
    assert back, "the server came back with its data"
    restarts = podman("container", "inspect", db["container"], "--format",
                      "{{.RestartCount}}")
    assert int(restarts.stdout.strip()) >= 1

    p.write("main.yaml", _spec(subnet, db_settings="{max_connections: 30}"))
    plan = p.run("plan")
    assert "~ Database/db will be updated in place" in plan.out, plan.out + plan.err
    apply(p)
    now = recorded(p, monkeypatch)["Database/db"]
    secretly(now["password"] == db["password"], "the same password after an update")
    assert now["port"] == db["port"], "a picked port is kept across updates"
    rows, setting = query(db["url"], "SELECT n FROM t"), query(db["url"], "SHOW max_connections")
    assert (rows, setting) == ([(7,)], [("30",)])

    p.write("main.yaml", _spec(subnet, "\n  running: false", "{max_connections: 30}"))
    apply(p)
    state = podman("container", "inspect", cache["container"], "--format", "{{.State.Status}}")
    assert state.stdout.strip() in ("exited", "stopped")
    assert p.run("plan", "--detailed-exitcode").code == 0, "stopped as the spec says"

    p.write("main.yaml", _spec(subnet, "\n  deleteData: true", "{max_connections: 30}"))
    before = podman("container", "inspect", cache["container"], "--format", "{{.Id}}").stdout
    apply(p)
    after = podman("container", "inspect", cache["container"], "--format", "{{.Id}}").stdout
    assert before == after, "deleteData and running change the container in place"
    reply = redis_cli(cache, "GET", "k")
    assert reply == "v", "started again, with its data"
    assert p.run("destroy", "--yes").code == 0
    assert podman("volume", "exists", cache["volume"]).returncode == 1, "deleteData: true"
    assert podman("volume", "exists", db["volume"]).returncode == 0


def test_taken_port_is_a_clear_error_and_leaves_nothing(
    data_project: Project, monkeypatch: pytest.MonkeyPatch, data_image: str
) -> None:
    """Also: a spec naming its image, and a failed update that keeps the data."""
    p = data_project
    name = p.name  # type: ignore[attr-defined]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        p.write("main.yaml", f"""
            apiVersion: stackwright.dev/v1
            kind: Database
            metadata: {{name: db}}
            spec: {{database: shop, port: {port}}}
            ---
            apiVersion: stackwright.dev/v1
            kind: Cache
            metadata: {{name: named}}
            spec: {{image: "{data_image}"}}
        """)
        failed = p.run("apply", "--yes", timeout=APPLY_TIMEOUT)
        assert failed.code == 1, failed.out + failed.err
        assert f"spec.port: host port 127.0.0.1:{port} is already in use" in failed.err
        labelled = ["--format", "json", "--filter", f"label=dev.stackwright.project={name}"]
        containers = json.loads(podman("ps", "-a", *labelled).stdout or "[]")
        volumes = json.loads(podman("volume", "ls", *labelled).stdout or "[]")
        assert [c["Labels"]["dev.stackwright.resource"] for c in containers] == ["Cache/named"]
        assert [v["Labels"]["dev.stackwright.resource"] for v in volumes] == ["Cache/named"]
        assert containers[0]["Image"] == data_image
    apply(p)
    db = recorded(p, monkeypatch)["Database/db"]
    assert db["port"] == port
    user = query(db["url"], "SELECT current_user")
    assert user == [("shop",)]
    assert p.run("plan", "--detailed-exitcode").code == 0

    query(db["url"], "CREATE TABLE kept AS SELECT 'yes' AS v")
    bad = f"spec: {{database: shop, port: {port}, settings: {{shared_buffers: lots}}}}"
    good = f"spec: {{database: shop, port: {port}}}"
    p.write("main.yaml", p.root.joinpath("main.yaml").read_text().replace(good, bad))
    failed = p.run("apply", "--yes", timeout=APPLY_TIMEOUT)
    assert failed.code == 1, failed.out + failed.err
    assert "exited while starting" in failed.err, failed.err
    assert 'invalid value for parameter "shared_buffers": "lots"' in failed.err
    p.write("main.yaml", p.root.joinpath("main.yaml").read_text().replace(bad, good))
    apply(p)
    kept = query(db["url"], "SELECT v FROM kept")
    assert kept == [("yes",)], "a failed update keeps the data and the password"


def _eventually(check: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except psycopg.Error:
            pass
        time.sleep(0.5)
    return False
