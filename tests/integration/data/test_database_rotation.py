"""Rotating a Database password on real podman and PostgreSQL, with a Service that uses it.

The service's replicas (busybox, `sleep`) only need to *have* the URL, as a tmpfs file: the
checks log in from the host with psycopg, with the credentials the replicas hold. In order,
on one project:

1. a database made without rotation (one login role) moves to two slots when `rotation: 1`
   is applied: the service is rolled to the new URL in the same apply, both the old and the
   new credentials work until the daemon's `databases` controller retires the old ones, then
   the old ones are refused; tables made before and after belong to the owner;
2. `rotation: 2` rotates again (slot b), the old slot is retired by the daemon;
3. `rotatePasswordEvery: 2s` with the daemon running: the controller rotates, rolls the
   service and retires the old slot on its own; the next plan is empty;

and no password ever shows in clear in the state, the daemon's log, `podman inspect` or the
CLI's output.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.fixtures.podman_cleanup import object_name, remove_project_objects

from stackwright.core.engine import Engine
from stackwright.tools.images import busybox_rootfs_image
from stackwright.tools.podman import Podman, PodmanSettings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("podman") is None, reason="needs podman"),
    pytest.mark.skipif(os.environ.get("STACKWRIGHT_TEST_DEBOOTSTRAP") == "0",
                       reason="STACKWRIGHT_TEST_DEBOOTSTRAP=0: the data image cannot be built"),
]
STACKWRIGHT_BIN = str(Path(sys.executable).with_name("stackwright"))
CACHE_DIR = os.environ.get("STACKWRIGHT_TEST_CACHE", "/var/tmp/stackwright-test-cache")
FILE = "/run/secrets/db"

SPEC = """\
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
{rotation}
---
apiVersion: stackwright.dev/v1
kind: Service
metadata: {{name: web}}
spec:
  image: {image}
  command: [sleep, "3600"]
  replicas: 2
  networks: ["${{{{ Network.backend.name }}}}"]
  secrets:
    - {{value: "${{{{ Database.db.internalUrl }}}}", file: {file}}}
"""


class Env:
    """One project (its key directory, daemon and a log of every CLI output)."""

    def __init__(self, root: Path, image: str) -> None:
        self.root, self.image = root, image
        self.name = f"r{uuid.uuid4().hex[:7]}"
        self.subnet = f"10.215.{random.randint(1, 250)}.0/24"
        self.env = {**os.environ, "STACKWRIGHT_KEY_DIR": str(root.parent / f"{root.name}-k"),
                    "NO_COLOR": "1"}
        self.outputs: list[str] = []
        self.daemon: subprocess.Popen[bytes] | None = None
        (root / "stackwright.yaml").write_text(
            f"project: {self.name}\nenvironments: {{dev: {{}}}}\nsettings:\n"
            f"  images: {{cacheDir: {CACHE_DIR}}}\n"
            "  controllers: {databases: {interval: 0.3}, services: {interval: 1}}\n")

    def write(self, rotation: str) -> None:
        (self.root / "main.yaml").write_text(SPEC.format(
            subnet=self.subnet, rotation=rotation, image=self.image, file=FILE))

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([STACKWRIGHT_BIN, "-C", str(self.root), *args],
                              capture_output=True, text=True, env=self.env, timeout=timeout)
        self.outputs.append(done.stdout + done.stderr)
        return done

    def apply(self) -> None:
        done = self.cli("apply", "--yes", "--lock-timeout", "120")
        assert done.returncode == 0, done.stdout + done.stderr

    def plan_is_empty(self) -> None:
        done = self.cli("plan", "--detailed-exitcode")
        assert done.returncode == 0, done.stdout + done.stderr

    def recorded(self) -> dict[str, Any]:
        """The Database's recorded outputs, sensitive ones decrypted."""
        old = os.environ.get("STACKWRIGHT_KEY_DIR")
        os.environ["STACKWRIGHT_KEY_DIR"] = self.env["STACKWRIGHT_KEY_DIR"]
        engine = Engine(self.root)
        try:
            return {str(a): dict(r.outputs) for a, r in engine.snapshot().resources.items()
                    }["Database/db"]
        finally:
            engine.close()
            if old is None:
                os.environ.pop("STACKWRIGHT_KEY_DIR", None)
            else:
                os.environ["STACKWRIGHT_KEY_DIR"] = old

    def start_daemon(self) -> None:
        info = self.root / ".stackwright" / "run" / "dev" / "daemon.json"
        info.unlink(missing_ok=True)
        self.daemon = subprocess.Popen([STACKWRIGHT_BIN, "-C", str(self.root), "server"],
                                       env=self.env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        wait_for("the daemon", info.exists, 30)

    def stop_daemon(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            self.daemon.wait(timeout=60)
        self.daemon = None

    def replicas(self) -> list[str]:
        done = podman("ps", "--format", "{{.Names}}", "--filter",
                      f"label=dev.stackwright.project={self.name}")
        web = object_name(self.name, self.root, "dev", "web")
        return sorted(n for n in done.stdout.split() if n.startswith(web))

    def service_urls(self) -> set[str]:
        """The URL each running replica holds in its file."""
        return {podman("exec", r, "cat", FILE).stdout.strip() for r in self.replicas()}


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", "--runtime", "runc", *args], capture_output=True,
                          text=True, check=False)


def wait_for(what: str, check: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def secretly(condition: bool, message: str) -> None:
    """Assert without pytest printing the values involved (they hold passwords)."""
    assert condition, message


def host_url(internal: str, db: dict[str, Any]) -> str:
    """A replica's internal URL made usable from the host (same user and password)."""
    return internal.replace(f"@{db['internalHost']}:{db['internalPort']}/",
                            f"@127.0.0.1:{db['port']}/")


def logs_in(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError as exc:
        secretly("password authentication failed" in str(exc)
                 or "not permitted to log in" in str(exc), "refused for its credentials")
        return False


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    podman_ = Podman(PodmanSettings())
    image = busybox_rootfs_image(podman_, cache_dir=Path(CACHE_DIR)).ref
    root = Path(tempfile.mkdtemp(prefix="swr", dir="/tmp"))
    e = Env(root, image)
    try:
        yield e
    finally:
        e.stop_daemon()
        e.cli("destroy", "--yes", "--lock-timeout", "60")
        remove_project_objects(e.name, e.root)
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(e.env["STACKWRIGHT_KEY_DIR"], ignore_errors=True)


PASSWORDS: list[str] = []  # every password seen, checked at the end


def test_manual_rotation_moves_an_old_database_to_slots_without_downtime(env: Env) -> None:
    env.write("")
    env.apply()
    legacy = env.recorded()
    PASSWORDS.append(legacy["password"])
    assert legacy["user"] == "app" and legacy.get("slot") in (None, "owner")
    assert env.service_urls() == {legacy["internalUrl"]}
    query(legacy["url"], "CREATE TABLE before_rotation (id int)")

    env.write("  rotation: 1")
    env.apply()
    db = env.recorded()
    PASSWORDS.append(db["password"])
    assert (db["user"], db["slot"], db["retiring"], db["owner"]) == ("app_a", "a", "owner", "app")
    held = env.service_urls()
    secretly(held == {db["internalUrl"]}, "the replicas were rolled to the new URL")
    # the window: the old credentials still work, and so do the new ones
    assert logs_in(legacy["url"]) and logs_in(host_url(next(iter(held)), db))
    query(db["url"], "INSERT INTO before_rotation VALUES (1)")
    query(db["url"], "CREATE TABLE after_rotation (id int)")
    owners = query(db["url"], "SELECT tablename, tableowner FROM pg_tables "
                              "WHERE schemaname = 'public' ORDER BY 1")
    assert owners == [("after_rotation", "app"), ("before_rotation", "app")]
    env.plan_is_empty()

    session = psycopg.connect(legacy["url"], connect_timeout=5, autocommit=True)
    env.start_daemon()
    wait_for("the old login retired", lambda: env.recorded().get("retiring") is None)
    assert not logs_in(legacy["url"]), "the owner can no longer log in"
    with pytest.raises(psycopg.OperationalError):  # its session was ended
        session.execute("SELECT 1")
    session.close()
    assert logs_in(db["url"]) and query(db["url"], "SELECT id FROM before_rotation") == [(1,)]
    env.plan_is_empty()

    env.write("  rotation: 2")
    env.apply()
    second = env.recorded()
    PASSWORDS.append(second["password"])
    assert (second["user"], second["slot"]) == ("app_b", "b")
    secretly(env.service_urls() == {second["internalUrl"]}, "rolled again")
    wait_for("slot a retired", lambda: env.recorded().get("retiring") is None)
    assert not logs_in(db["url"]) and logs_in(second["url"])
    env.plan_is_empty()


class Probe(threading.Thread):
    """Logs in, again and again, with the URL each running replica holds; a failure counts
    only if the replica still runs afterwards (one removed by the roll may hold a retired
    password)."""

    def __init__(self, env: Env, db: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.env, self.db = env, db
        self.halt = threading.Event()
        self.logins, self.failures, self.users = 0, list[str](), set[str]()

    def run(self) -> None:
        while not self.halt.is_set():
            for replica in self.env.replicas():
                held = podman("exec", replica, "cat", FILE)
                if held.returncode != 0:
                    continue
                url = host_url(held.stdout.strip(), self.db)
                user = url.split("://", 1)[1].split(":", 1)[0]
                if self._logs_in(url):
                    self.logins += 1
                    self.users.add(user)
                elif replica in self.env.replicas():
                    self.failures.append(f"{replica} as {user}")
            time.sleep(0.1)

    @staticmethod
    def _logs_in(url: str) -> bool:
        try:
            with psycopg.connect(url, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=30)


def test_daemon_rotates_on_schedule_and_rolls_the_service(env: Env) -> None:
    before = env.recorded()
    if env.daemon is None:
        env.start_daemon()
    probe = Probe(env, before)
    probe.start()
    try:
        env.write("  rotation: 2\n  rotatePasswordEvery: 2s")
        env.apply()

        def rotated() -> bool:  # by the controller, on schedule (the apply itself may
            now = env.recorded()  # rotate first, the schedule being already overdue)
            return (now["slot"] != before["slot"] and now.get("retiring") is None
                    and "database.retired" in _daemon_events(env, after="database.rotated"))
        wait_for("a rotation by the daemon, the service rolled and the old slot retired",
                 rotated)
        env.write("  rotation: 2\n  rotatePasswordEvery: 1h")  # no more rotations
        env.apply()
        wait_for("no slot retiring", lambda: env.recorded().get("retiring") is None)
    finally:
        probe.stop()
    env.stop_daemon()
    # zero downtime: whatever a running replica held at any moment logged in
    assert probe.failures == [], probe.failures
    assert probe.logins > 10 and probe.users >= {"app_a", "app_b"}, (probe.logins, probe.users)

    after = env.recorded()
    PASSWORDS.append(after["password"])
    held = env.service_urls()
    secretly(held == {after["internalUrl"]}, "the replicas hold the rotated URL")
    assert logs_in(host_url(next(iter(held)), after))
    assert not logs_in(before["url"]), "the password before the rotation is refused"
    env.plan_is_empty()
    log = (env.root / ".stackwright" / "run" / "dev" / "daemon.log").read_text()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    events = [line.get("event") for line in lines]
    assert {"database.rotated", "service.rolled_for_database", "database.retired"} <= set(
        events), sorted(set(filter(None, events)))
    figures = {name: [line.get("seconds") for line in lines if line.get("event") == name]
               for name in ("database.rotated", "service.rolled_for_database")}
    print(f"\nrotation figures (s): {figures}; probe logins {probe.logins}, failures 0")


def _daemon_events(env: Env, after: str | None = None) -> list[str]:
    """The events of the daemon's log, in order; with ``after``, those after its first one."""
    log = env.root / ".stackwright" / "run" / "dev" / "daemon.log"
    events = [str(json.loads(line).get("event")) for line in log.read_text().splitlines()
              if line.startswith("{")] if log.exists() else []
    if after is not None:
        events = events[events.index(after) + 1:] if after in events else []
    return events


def _leaks(data: bytes, password: str) -> list[bytes]:
    """What surrounds each occurrence of ``password`` in ``data``, the password masked."""
    found, at = [], data.find(password.encode())
    while at >= 0:
        found.append(data[max(0, at - 100):at + 60].replace(password.encode(), b"***"))
        at = data.find(password.encode(), at + 1)
    return found


def test_no_password_in_podman_inspect_logs_or_cli_output(env: Env) -> None:
    assert len(PASSWORDS) >= 4
    database = object_name(env.name, env.root, "dev", "db")
    containers = [database, *env.replicas()]
    texts = [podman("container", "inspect", c).stdout for c in containers]
    logs = podman("logs", database)
    texts += [logs.stdout + logs.stderr, *env.outputs]
    leaks = [(n, i, leak) for n, pw in enumerate(PASSWORDS) for i, text in enumerate(texts)
             for leak in _leaks(text.encode(), pw)]
    secretly(not leaks, f"passwords in podman inspect, logs or CLI output: {leaks}")


def test_no_password_in_the_project_files(env: Env) -> None:
    """State, plan history and the daemon's log."""
    files = [p for p in (env.root / ".stackwright").rglob("*") if p.is_file()]
    leaks = [(n, str(path), leak) for n, pw in enumerate(PASSWORDS) for path in files
             for leak in _leaks(path.read_bytes(), pw)]
    secretly(not leaks, f"passwords in clear: {leaks}")
