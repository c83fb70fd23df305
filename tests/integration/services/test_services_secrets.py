"""Secrets in workloads, end to end on the daemon, podman and HAProxy: a generated Secret
and a secret put by hand reach replicas as tmpfs files and env; the values never appear in
state, plan output, daemon logs, the audit log or `podman inspect`; a scheduled rotation
rolls the service with zero failed requests.

The tests of this module run in order on one project (the daemon runs across them).
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest
from tests.integration.services.helpers import STACKWRIGHT, cli, free_port, get, wait_for

pytestmark = pytest.mark.slow

PLANTED = "planted-Xq7-never-in-clear-3318"




LB_PORT = free_port()
URL = f"http://127.0.0.1:{LB_PORT}/"

SPEC = """\
apiVersion: stackwright.dev/v1
kind: Secret
metadata: {{name: session}}
spec:
  path: web/session
  generate: {{password: {{length: 40, symbols: true}}}}
  rotateEvery: {rotate}
---
apiVersion: stackwright.dev/v1
kind: Service
metadata: {{name: web}}
spec:
  image: {image}
  ports: [8080]
  replicas: 2
  healthCheck: {{http: /healthz, interval: 200ms}}
  rollout: {{healthTimeout: 10s, drainTimeout: 3s}}
  secrets:
    - {{ref: "${{{{ Secret.session.ref }}}}", file: /run/secrets/session}}
    - {{ref: secret/web/planted, key: token, file: /run/secrets/planted}}
    - {{ref: secret/web/planted, key: mode, env: APP_MODE}}
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






def replicas(project: str) -> list[str]:
    done = subprocess.run(["podman", "ps", "--format", "{{.Names}}", "--filter",
                           f"label=dev.stackwright.project={project}"],
                          capture_output=True, text=True, check=True)
    return sorted(done.stdout.split())


def cat(container: str, path: str) -> str:
    done = subprocess.run(["podman", "exec", container, "cat", path], capture_output=True,
                          text=True, check=True)
    return done.stdout


class Env:
    """The project, its daemon and an unsealed secrets store with a root token."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.project = (root / "stackwright.yaml").read_text().splitlines()[0].split(
            ":", 1)[1].strip()
        self.token_file = root.parent / f"{root.name}-token"
        self.daemon: subprocess.Popen[bytes] | None = None
        self.vault: hvac.Client | None = None

    def start(self) -> None:
        info = self.root / ".stackwright" / "run" / "dev" / "daemon.json"
        self.daemon = subprocess.Popen([STACKWRIGHT, "-C", str(self.root), "server"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for("the daemon", info.exists, 30)
        self.vault = hvac.Client(url=json.loads(info.read_text())["api"])

    def stop(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            self.daemon.wait(timeout=30)

    def files(self) -> Iterator[Path]:
        yield from (p for p in (self.root / ".stackwright").rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def env(project_root: Path, images: dict[str, str]) -> Iterator[Env]:
    e = Env(project_root)
    config = project_root / "stackwright.yaml"
    config.write_text(config.read_text() + (
        f"settings:\n  secrets: {{tokenFile: {e.token_file}}}\n"
        "  controllers: {secrets: {interval: 0.5}, services: {interval: 0.5}}\n"))
    e.start()
    assert e.vault is not None
    init = e.vault.sys.initialize(secret_shares=1, secret_threshold=1)
    e.vault.sys.submit_unseal_key(init["keys_base64"][0])
    e.vault.token = init["root_token"]
    e.token_file.write_text(init["root_token"])
    e.vault.secrets.kv.v2.create_or_update_secret(
        "web/planted", secret={"token": PLANTED, "mode": "production"})
    (project_root / "services.yaml").write_text(
        SPEC.format(image=images["v1"], lb=LB_PORT, rotate="1h"))
    try:
        yield e
    finally:
        cli(project_root, "destroy", "--yes", "--lock-timeout", "120")
        e.stop()
        e.token_file.unlink(missing_ok=True)


def test_secrets_reach_replicas_as_files_and_env(env: Env) -> None:
    plan = cli(env.root, "plan")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    applied = cli(env.root, "apply", "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert env.vault is not None
    session = env.vault.secrets.kv.v2.read_secret_version("web/session")["data"]["data"]
    value = session["value"]
    assert len(value) == 40
    names = replicas(env.project)
    assert len(names) == 2
    for name in names:
        assert cat(name, "/run/secrets/session") == value
        assert cat(name, "/run/secrets/planted") == PLANTED
        mode = subprocess.run(["podman", "exec", name, "sh", "-c", "echo $APP_MODE"],
                              capture_output=True, text=True, check=True).stdout.strip()
        assert mode == "production"
    outputs = json.loads(cli(env.root, "output", "Secret/session", "-o", "json").stdout)
    assert outputs["Secret/session"]["ref"] == "secret/web/session@1"
    assert get(URL) == "v1"
    assert cli(env.root, "plan", "--detailed-exitcode").returncode == 0


def test_values_never_appear_in_clear(env: Env) -> None:
    assert env.vault is not None
    value = env.vault.secrets.kv.v2.read_secret_version("web/session")["data"]["data"]["value"]
    for name in replicas(env.project):
        inspect = subprocess.run(["podman", "inspect", name], capture_output=True, text=True,
                                 check=True).stdout
        assert PLANTED not in inspect and value not in inspect
    saved = env.root / ".stackwright" / "saved.plan"
    outputs = [cli(env.root, *args) for args in (
        ("plan",), ("plan", "--out", str(saved)), ("plan", "-o", "json"),
        ("state", "show", "Service/web"), ("state", "show", "Secret/session"),
        ("output", "-o", "json"), ("status", "-o", "json"))]
    for done in outputs:
        assert PLANTED not in done.stdout + done.stderr
        assert value not in done.stdout + done.stderr
    assert saved.is_file()
    for path in env.files():  # state.db, saved.plan, daemon.log, vault-audit.log, routes
        data = path.read_bytes()
        assert PLANTED.encode() not in data and value.encode() not in data, path
    assert "secret/web/session@1" in cli(env.root, "state", "show", "Service/web").stdout


def test_rotation_rolls_the_service_without_failed_requests(env: Env) -> None:
    assert env.vault is not None
    before = replicas(env.project)
    (env.root / "services.yaml").write_text(
        (env.root / "services.yaml").read_text().replace("rotateEvery: 1h", "rotateEvery: 2s"))
    done = cli(env.root, "apply", "--yes", "--lock-timeout", "120")
    assert done.returncode == 0, done.stdout + done.stderr
    failures: list[str] = []
    served = [0]
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                get(URL)
                served[0] += 1
            except (OSError, http.client.HTTPException) as exc:
                failures.append(repr(exc))
            time.sleep(0.02)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    try:
        wait_for("a rotation and a rolled service", lambda: replicas(env.project) != before
                 and len(replicas(env.project)) == 2 and _version(env) >= 2
                 and _service_ref(env) not in ("", "secret/web/session@1"), 60)
        time.sleep(1.0)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert failures == [], failures[:3]
    assert served[0] > 10
    (env.root / "services.yaml").write_text(
        (env.root / "services.yaml").read_text().replace("rotateEvery: 2s", "rotateEvery: 1h"))
    done = cli(env.root, "apply", "--yes", "--lock-timeout", "120")
    assert done.returncode == 0, done.stdout + done.stderr
    version = _version(env)
    value = env.vault.secrets.kv.v2.read_secret_version("web/session")["data"]["data"]["value"]
    wait_for("replicas with the last version", lambda: all(
        cat(n, "/run/secrets/session") == value for n in replicas(env.project)), 30)
    assert _service_ref(env) == f"secret/web/session@{version}"
    assert cli(env.root, "plan", "--detailed-exitcode").returncode == 0
    events = [json.loads(line)["event"] for line in (
        env.root / ".stackwright" / "run" / "dev" / "daemon.log").read_text().splitlines()
        if line.startswith("{")]
    assert "secret.rotated" in events and "service.rolled_for_secret" in events




def _version(env: Env) -> int:
    assert env.vault is not None
    meta = env.vault.secrets.kv.v2.read_secret_metadata("web/session")["data"]
    return int(meta["current_version"])


def _service_ref(env: Env) -> str:
    shown = cli(env.root, "state", "show", "Service/web", "-o", "json")
    doc = json.loads(shown.stdout)
    refs = [s["ref"] for s in doc["inputs"]["secrets"] if "session" in s["ref"]]
    return str(refs[0]) if refs else ""

