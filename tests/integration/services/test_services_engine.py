"""Service and LoadBalancer through the real engine on real podman and HAProxy.

The tests of this module run in order on one project: deploy, scale, a rolling update under
load, a bad revision, drift and repair, destroy, then bad input.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from tests.fixtures.podman_cleanup import object_name
from tests.integration.services.helpers import free_port, get

from stackwright.core.engine import ApplyOutcome, Engine
from stackwright.core.kinds import Kind
from stackwright.core.model import Action, Address, Plan
from stackwright.registry import Registry
from stackwright.services.loadbalancer import LOADBALANCER_KIND
from stackwright.services.service import SERVICE_KIND

pytestmark = pytest.mark.slow

WEB = Address("Service", "web")
EDGE = Address("LoadBalancer", "edge")




LB_PORT, METRICS_PORT = free_port(), free_port()

SPEC = """\
apiVersion: stackwright.dev/v1
kind: Service
metadata: {{name: web}}
spec:
  image: {image}
  ports: [8080]
  replicas: {replicas}
  resources: {{cpus: 0.5, memory: 64m}}
  healthCheck: {{http: /healthz, interval: 200ms}}
  rollout: {{healthTimeout: 6s, drainTimeout: 5s}}
---
apiVersion: stackwright.dev/v1
kind: LoadBalancer
metadata: {{name: edge}}
spec:
  http:
    port: {lb}
    routes: [{{service: "${{{{ Service.web.id }}}}", port: 8080}}]
  metricsPort: {metrics}
"""


def kinds() -> Registry[Kind]:
    reg = Registry[Kind]("kind")
    reg.add("Service", SERVICE_KIND)
    reg.add("LoadBalancer", LOADBALANCER_KIND)
    return reg


def write(root: Path, image: str, replicas: int) -> None:
    (root / "services.yaml").write_text(SPEC.format(image=image, replicas=replicas, lb=LB_PORT,
                                                    metrics=METRICS_PORT))


def apply(root: Path, *, destroy: bool = False) -> ApplyOutcome:
    engine = Engine(root, kinds=kinds())
    try:
        outcome = engine.apply(destroy=destroy)
        assert outcome is not None
        return outcome
    finally:
        engine.close()


def plan(root: Path) -> Plan:
    engine = Engine(root, kinds=kinds())
    try:
        return engine.plan()
    finally:
        engine.close()


def outputs(root: Path) -> dict[str, dict[str, object]]:
    engine = Engine(root, kinds=kinds())
    try:
        return engine.outputs()
    finally:
        engine.close()




def containers(project: str) -> list[str]:
    done = subprocess.run(["podman", "ps", "-a", "--format", "{{.Names}}", "--filter",
                           f"label=dev.stackwright.project={project}"],
                          capture_output=True, text=True, check=True)
    return sorted(done.stdout.split())


def project_name(root: Path) -> str:
    return (root / "stackwright.yaml").read_text().splitlines()[0].split(":", 1)[1].strip()


class Load:
    """~50 requests a second to the load balancer from a thread, for at most ``limit`` s."""

    def __init__(self, url: str, limit: float = 20.0) -> None:
        self.url, self.limit = url, limit
        self.answers: Counter[str] = Counter()
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        end = time.monotonic() + self.limit
        while not self.stop.is_set() and time.monotonic() < end:
            try:
                self.answers[get(self.url)] += 1
            except (OSError, urllib.error.URLError) as exc:
                self.failures.append(repr(exc))
            time.sleep(0.02)

    def __enter__(self) -> Load:
        self.thread.start()
        time.sleep(0.3)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


URL = f"http://127.0.0.1:{LB_PORT}/"


def test_deploy_two_replicas_behind_haproxy(project_root: Path, images: dict[str, str]) -> None:
    write(project_root, images["v1"], 2)
    outcome = apply(project_root)
    assert outcome.result.ok, outcome.result.failed
    out = outputs(project_root)
    web = out[str(WEB)]
    project = project_name(project_root)
    assert web["id"] == object_name(project, project_root, "dev", "web")
    assert web["replicas"] == 2 and len(web["endpoints"]) == 2  # type: ignore[arg-type]
    names = containers(project)
    assert [n.rsplit("-", 1)[-1] for n in names] == ["1", "2"]
    assert all(n.startswith(f"{web['id']}-{web['revision']}-") for n in names)
    for endpoint in web["endpoints"]:  # type: ignore[attr-defined]
        assert get(f"http://{endpoint}/") == "v1"
    assert {get(URL) for _ in range(6)} == {"v1"}
    assert out[str(EDGE)]["url"] == URL.rstrip("/")
    metrics = get(str(out[str(EDGE)]["metrics_url"]))
    assert f'haproxy_backend_active_servers{{proxy="{web["id"]}_8080"}} 2' in metrics
    assert plan(project_root).has_changes is False


def test_scale_up_and_down_without_errors(project_root: Path, images: dict[str, str]) -> None:
    project = project_name(project_root)
    with Load(URL) as load:
        for count in (3, 1):
            write(project_root, images["v1"], count)
            changes = [c for c in plan(project_root).changes if c.action is not Action.NOOP]
            assert [(c.address, c.action) for c in changes] == [(WEB, Action.UPDATE)]
            assert apply(project_root).result.ok
            assert len(containers(project)) == count
            assert outputs(project_root)[str(WEB)]["replicas"] == count
    assert load.failures == []
    assert sum(load.answers.values()) > 10


def test_rolling_update_has_zero_failed_requests(
    project_root: Path, images: dict[str, str]
) -> None:
    write(project_root, images["v1"], 2)
    assert apply(project_root).result.ok
    before = outputs(project_root)[str(WEB)]["revision"]
    write(project_root, images["v2"], 2)
    with Load(URL) as load:
        outcome = apply(project_root)
        time.sleep(0.3)
    assert outcome.result.ok, outcome.result.failed
    assert load.failures == [], load.failures[:3]
    assert load.answers["v1"] > 0 and load.answers["v2"] > 0
    assert {get(URL) for _ in range(6)} == {"v2"}
    web = outputs(project_root)[str(WEB)]
    assert web["revision"] != before
    assert [r["revision"] for r in web["revisions"]][-2:] == [before, web["revision"]]  # type: ignore[attr-defined]
    names = containers(project_name(project_root))
    assert len(names) == 2 and all(f"-{web['revision']}-" in n for n in names)


def test_bad_revision_fails_and_old_keeps_serving(
    project_root: Path, images: dict[str, str]
) -> None:
    good = containers(project_name(project_root))
    write(project_root, images["bad"], 2)
    with Load(URL, limit=15) as load:
        outcome = apply(project_root)
    message = outcome.result.failed[WEB]
    assert "HTTP 404" in message and "/healthz" in message
    assert "last log lines" in message
    assert load.failures == []
    assert set(load.answers) == {"v2"}
    assert containers(project_name(project_root)) == good
    # nothing was retired: the record is the previous spec, READY, not an interrupted update
    web = next(c for c in plan(project_root).changes if c.address == WEB)
    assert web.action is Action.UPDATE and web.reason is None, web
    assert [d.path for d in web.diffs] == ["image"]
    write(project_root, images["v2"], 2)  # back to the good revision: converges again
    assert apply(project_root).result.ok
    assert containers(project_name(project_root)) == good


def test_killed_replica_is_drift_and_apply_restores_it(project_root: Path) -> None:
    victim = containers(project_name(project_root))[0]
    subprocess.run(["podman", "rm", "-f", "-t", "0", victim], capture_output=True, check=True)
    planned = plan(project_root)
    web = next(c for c in planned.changes if c.address == WEB)
    assert web.action is Action.UPDATE
    assert [(d.path, d.before, d.after) for d in web.diffs] == [("replicas", 1, 2)]
    assert [c.address for c in planned.drift] == [WEB]
    with Load(URL) as load:
        assert apply(project_root).result.ok
    assert load.failures == []
    assert len(containers(project_name(project_root))) == 2
    assert len(outputs(project_root)[str(WEB)]["endpoints"]) == 2  # type: ignore[arg-type]
    assert plan(project_root).has_changes is False


def test_destroy_leaves_nothing(project_root: Path) -> None:
    run = project_root / ".stackwright" / "run" / "dev"
    pid = int((run / "haproxy" / "edge" / "haproxy.pid").read_text().split()[0])
    assert apply(project_root, destroy=True).result.ok
    assert containers(project_name(project_root)) == []
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    assert not (run / "haproxy" / "edge").exists()
    assert list((run / "routes").glob("*.json")) == []
    with pytest.raises(OSError):
        get(URL, timeout=1)


def test_taken_port_and_missing_network_fail_clearly(
    project_root: Path, images: dict[str, str]
) -> None:
    project = project_name(project_root)
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", LB_PORT))
        holder.listen()
        write(project_root, images["v1"], 1)
        outcome = apply(project_root)
    assert f"port {LB_PORT} (http.port)" in outcome.result.failed[EDGE]
    assert apply(project_root, destroy=True).result.ok
    spec = SPEC.format(image=images["v1"], replicas=2, lb=LB_PORT, metrics=METRICS_PORT)
    spec = spec.replace("  ports: [8080]\n", "  ports: [8080]\n  networks: [nowhere]\n")
    (project_root / "services.yaml").write_text(spec)
    outcome = apply(project_root)
    assert "network(s) nowhere do not exist" in outcome.result.failed[WEB]
    assert containers(project) == []
    assert apply(project_root, destroy=True).result.ok
    missing = "localhost/stackwright/never-built:0"
    write(project_root, missing, 2)
    outcome = apply(project_root)
    assert f"image {missing} does not exist" in outcome.result.failed[WEB]
    assert containers(project) == []
    assert apply(project_root, destroy=True).result.ok
