"""What the delivery integration tests share: the spec, applies, load, HAProxy's weights."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from stackwright.core.engine import ApplyOutcome, Engine
from stackwright.core.kinds import Kind
from stackwright.core.model import Address
from stackwright.registry import Registry
from stackwright.services.loadbalancer import LOADBALANCER_KIND
from stackwright.services.service import SERVICE_KIND
from stackwright.tools.haproxy import HaproxyRuntime

STACKWRIGHT = str(Path(sys.executable).with_name("stackwright"))
WEB = Address("Service", "web")
ROLES = {"vic": "viewer", "dev": "developer", "ops": "operator"}
PASSWORD = "pass-word-12"

SPEC = """\
apiVersion: stackwright.dev/v1
kind: Service
metadata: {{name: web}}
spec:
  image: {image}
  env: {{ERROR_RATE: "{error_rate}", PAGE: {page}}}
  ports: [8080]
  replicas: 2
  healthCheck: {{http: /healthz, interval: 200ms}}
  rollout: {{healthTimeout: 20s, drainTimeout: 5s}}
  deploy: {deploy}
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


def handed(root: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, free to hand the command to the daemon."""
    env = {k: v for k, v in os.environ.items() if k != "STACKWRIGHT_NO_DAEMON"}
    return subprocess.run([STACKWRIGHT, "-C", str(root), *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


class Daemon:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.info = root / ".stackwright" / "run" / "dev" / "daemon.json"
        self.proc: subprocess.Popen[bytes] | None = None
        self.tokens: dict[str, str] = {}

    def start(self) -> None:
        self.proc = subprocess.Popen([STACKWRIGHT, "-C", str(self.root), "server",
                                      "--no-secrets"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for("daemon.json", self.info.exists, 60)

    @property
    def pid(self) -> int:
        return int(json.loads(self.info.read_text())["pid"])

    def add_users(self, roles: dict[str, str]) -> None:
        """Users (password PASSWORD) and API tokens, made as an admin does, before start."""
        for user, role in roles.items():
            added = subprocess.run([STACKWRIGHT, "-C", str(self.root), "user", "add", user,
                                    "--role", role, "--password-stdin"], input=PASSWORD + "\n",
                                   capture_output=True, text=True, timeout=60)
            assert added.returncode == 0, added.stderr
            made = handed(self.root, "token", "create", "--user", user, "--name", "t", "-o",
                          "json")
            assert made.returncode == 0, made.stderr
            self.tokens[user] = json.loads(made.stdout)["token"]

    @property
    def api(self) -> str:
        return str(json.loads(self.info.read_text())["api"])

    def client(self, user: str) -> httpx.Client:
        return httpx.Client(base_url=self.api, timeout=60,
                            headers={"Authorization": f"Bearer {self.tokens[user]}"})

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)

    def events(self) -> list[dict[str, Any]]:
        text = (self.root / ".stackwright" / "run" / "dev" / "daemon.log").read_text()
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def kinds() -> Registry[Kind]:
    reg = Registry[Kind]("kind")
    reg.add("Service", SERVICE_KIND)
    reg.add("LoadBalancer", LOADBALANCER_KIND)
    return reg


def write(root: Path, image: str, lb: int, *, page: str, deploy: str,
          error_rate: float = 0.0) -> None:
    (root / "services.yaml").write_text(SPEC.format(image=image, lb=lb, page=page,
                                                    deploy=deploy, error_rate=error_rate))


def apply(root: Path) -> ApplyOutcome:
    engine = Engine(root, kinds=kinds())
    try:
        outcome = engine.apply()
        assert outcome is not None
        return outcome
    finally:
        engine.close()


class Background:
    """``apply`` in a thread, so a test can act while the rollout runs."""

    def __init__(self, root: Path) -> None:
        self.outcome: ApplyOutcome | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(root,), daemon=True)
        self.thread.start()

    def _run(self, root: Path) -> None:
        try:
            self.outcome = apply(root)
        except BaseException as exc:  # reported by result()
            self.error = exc

    def running(self) -> bool:
        """True while the apply runs; when it ended early, an AssertionError saying how."""
        if self.thread.is_alive():
            return True
        failed = self.outcome.result.failed if self.outcome else None
        raise AssertionError(f"the apply ended early: {self.error or failed}")

    def result(self, timeout: float = 180.0) -> ApplyOutcome:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the apply did not end"
        if self.error is not None:
            raise self.error
        assert self.outcome is not None
        return self.outcome


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([STACKWRIGHT, "-C", str(root), *args], capture_output=True,
                          text=True, timeout=120, env=_env())


def _env() -> dict[str, str]:
    return {**os.environ, "STACKWRIGHT_NO_DAEMON": "1"}


def status(root: Path) -> dict[str, Any]:
    done = cli(root, "rollout", "status", "web", "-o", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def record(root: Path) -> tuple[str, str]:
    """Service/web's state record: its status and revision."""
    engine = Engine(root)
    try:
        rec = engine.snapshot().resources[WEB]
    finally:
        engine.close()
    return rec.status.value, str(rec.outputs.get("revision"))


def truthful_after_abort(root: Path, stable: str) -> None:
    """After an abort or undo: the record READY on the stable revision, no drift, and the
    plan proposing the update again."""
    assert record(root) == ("ready", stable)
    drift = cli(root, "drift", "-o", "json")
    assert drift.returncode == 0 and json.loads(drift.stdout)["drifted"] is False, drift.stdout
    planned = json.loads(cli(root, "plan", "-o", "json").stdout)["changes"]
    assert {c["address"]: c["action"] for c in planned}.get(str(WEB)) == "update"


def wait_for(what: str, check: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def stats_socket(root: Path) -> Path:
    return next(root.glob(".stackwright/run/dev/haproxy/edge/stats.sock"))


def server_weights(root: Path) -> dict[str, int]:
    """Server name -> weight in the web backend, as HAProxy reports it."""
    rows = HaproxyRuntime(stats_socket(root)).show_stat()
    return {r.name: r.weight for r in rows
            if r.type == "server" and r.proxy.startswith("sw-") and r.status != "MAINT"}


def canary_share(weights: dict[str, int], revision: str) -> float:
    total = sum(weights.values())
    mine = sum(w for name, w in weights.items() if name.startswith(revision + "-"))
    return round(100.0 * mine / total, 1) if total else 0.0


class Load:
    """Requests at a steady rate through the load balancer; codes counted by PAGE text."""

    def __init__(self, port: int, rate: float = 40.0) -> None:
        self.url = f"http://127.0.0.1:{port}/cgi-bin/app"
        self.gap = 1.0 / rate
        self.codes: Counter[str] = Counter()
        self.bodies: Counter[str] = Counter()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)

    def _loop(self) -> None:
        deadline = time.monotonic() + 300  # bounded whatever happens
        while not self.stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            self.one()
            time.sleep(max(0.0, self.gap - (time.monotonic() - started)))

    def one(self) -> None:
        try:
            with urllib.request.urlopen(self.url, timeout=5) as resp:
                self.codes[str(resp.status)] += 1
                self.bodies[resp.read().decode().strip()] += 1
        except urllib.error.HTTPError as exc:
            self.codes[str(exc.code)] += 1
        except OSError as exc:
            self.codes[f"error: {type(exc).__name__}"] += 1
