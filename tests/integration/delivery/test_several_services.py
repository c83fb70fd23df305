"""Several services in one apply on real podman and HAProxy: they roll in dependency order; a
failed canary halts the apply and rolls back the service already rolled in it; every record,
``drift`` and ``rollout status`` stay truthful afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.integration.delivery.helpers import Load, cli, kinds

from stackwright.core.engine import Engine, require_changes_applied
from stackwright.core.model import Address, Status
from stackwright.errors import ApplyError
from stackwright.ports import free_port
from stackwright.services.loadbalancer import LOADBALANCER_KIND  # noqa: F401 - in kinds()
from stackwright.tools.haproxy import HaproxyRuntime

pytestmark = pytest.mark.slow

WEB, API = Address("Service", "web"), Address("Service", "api")
LB_WEB, LB_API = free_port(), free_port()
ANALYSIS = ("analysis: {metrics: [{name: errors, metric: error_ratio, interval: 1s, "
            "minRequests: 3, failureCondition: result > 0.2, inconclusiveLimit: 100}]}")

SPEC = """\
apiVersion: stackwright.dev/v1
kind: Service
metadata: {{name: web}}
spec:
  image: {image}
  env: {{PAGE: {web_page}}}
  ports: [8080]
  replicas: 2
  healthCheck: {{http: /healthz, interval: 200ms}}
  rollout: {{healthTimeout: 20s, drainTimeout: 3s}}
  deploy: {{strategy: canary, canary: {{steps: [{{setWeight: 50}}, {{pause: {{duration: 2s}}}}]}}}}
---
apiVersion: stackwright.dev/v1
kind: Service
metadata: {{name: api}}
spec:
  image: {image}
  env: {{PAGE: {api_page}, ERROR_RATE: "{api_errors}", UPSTREAM: "${{{{ Service.web.id }}}}"}}
  ports: [8080]
  replicas: 2
  healthCheck: {{http: /healthz, interval: 200ms}}
  rollout: {{healthTimeout: 20s, drainTimeout: 3s}}
  deploy: {{strategy: canary, canary: {{steps: [{{setWeight: 30}}, {{pause: {{duration: 60s}}}}],
            {analysis}}}}}
---
apiVersion: stackwright.dev/v1
kind: LoadBalancer
metadata: {{name: edge}}
spec:
  http:
    port: {lb_web}
    routes: [{{service: "${{{{ Service.web.id }}}}", port: 8080}}]
  checkInterval: 500ms
---
apiVersion: stackwright.dev/v1
kind: LoadBalancer
metadata: {{name: edge-api}}
spec:
  http:
    port: {lb_api}
    routes: [{{service: "${{{{ Service.api.id }}}}", port: 8080}}]
  checkInterval: 500ms
"""


def write(root: Path, image: str, web_page: str, api_page: str, api_errors: float) -> None:
    (root / "services.yaml").write_text(SPEC.format(
        image=image, web_page=web_page, api_page=api_page, api_errors=api_errors,
        analysis=ANALYSIS, lb_web=LB_WEB, lb_api=LB_API))


def servers(root: Path, lb: str) -> list[str]:
    sock = next(root.glob(f".stackwright/run/dev/haproxy/{lb}/stats.sock"))
    return [r.name for r in HaproxyRuntime(sock).show_stat()
            if r.type == "server" and r.proxy.startswith("sw-") and r.status != "MAINT"
            and r.weight > 0]


def records(root: Path) -> dict[Address, tuple[Status, str]]:
    engine = Engine(root)
    try:
        snap = engine.snapshot().resources
    finally:
        engine.close()
    return {a: (snap[a].status, str(snap[a].outputs.get("revision"))) for a in (WEB, API)}


def test_a_failed_canary_rolls_back_the_service_rolled_before_it(project_root: Path,
                                                                 image: str) -> None:
    write(project_root, image, "web1", "api1", 0.0)
    engine = Engine(project_root, kinds=kinds())
    try:
        first = engine.apply()
    finally:
        engine.close()
    assert first is not None and first.result.ok, first.result.failed
    before = records(project_root)

    write(project_root, image, "web2", "api2", 0.8)
    lines: list[str] = []
    engine = Engine(project_root, kinds=kinds())
    with Load(LB_API) as load:
        try:
            outcome = engine.apply(on_event=lambda e: lines.append(f"{e.address} {e.phase} "
                                                                    f"{e.message}"))
        finally:
            engine.close()
    assert outcome is not None
    result = outcome.result
    assert set(result.failed) == {API}, result.failed
    assert "aborted: analysis failed" in result.failed[API]
    assert result.halted_by == API and result.rolled_back == [WEB], result
    assert load.codes["500"] > 0  # the bad canary did get traffic
    # web rolled first (api depends on it), then was rolled back after api failed
    web_done = next(i for i, line in enumerate(lines) if line.startswith("Service/web done"))
    api_start = next(i for i, line in enumerate(lines) if line.startswith("Service/api start"))
    assert web_done < api_start
    assert any("Service/web log rolling back: Service/api failed" in line for line in lines)

    assert records(project_root) == before  # both READY on their old revisions
    assert all(s is Status.READY for s, _ in before.values())
    web_old, api_old = before[WEB][1], before[API][1]
    assert {n.rpartition("-")[0] for n in servers(project_root, "edge")} == {web_old}
    assert {n.rpartition("-")[0] for n in servers(project_root, "edge-api")} == {api_old}
    with pytest.raises(ApplyError) as failed:
        require_changes_applied(outcome)
    text = str(failed.value)
    assert "halted: Service/api failed" in text
    assert "rolled back to its record before this apply: Service/web" in text

    drift = cli(project_root, "drift", "-o", "json")
    assert drift.returncode == 0, drift.stdout + drift.stderr
    assert json.loads(drift.stdout)["drifted"] is False
    plan = cli(project_root, "plan", "-o", "json")
    planned = {c["address"]: c["action"] for c in json.loads(plan.stdout)["changes"]}
    assert planned.get("Service/web") == "update" and planned.get("Service/api") == "update"
    shown = json.loads(cli(project_root, "status", "-o", "json").stdout)
    rows = {r["address"]: r for r in shown["resources"]}
    assert rows["Service/web"]["status"] == "ready" and rows["Service/api"]["status"] == "ready"
    api_rollout = json.loads(cli(project_root, "rollout", "status", "api", "-o",
                                 "json").stdout)
    assert api_rollout["state"] == "aborted" and api_rollout["stable"] == api_old
    history = json.loads(cli(project_root, "state", "history", "-o", "json").stdout)
    assert history[-1]["status"] == "failed"
