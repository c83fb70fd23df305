"""The monitoring stack as the daemon runs it, end to end on real podman, HAProxy,
Prometheus, Alertmanager and node_exporter: ``up`` starts it, replicas are scraped with
their labels, a scaled-away replica leaves the targets, an SLO's page alert fires when the
app fails and resolves when it recovers (recorded by the daemon's receiver and delivered to
a NotificationChannel webhook), and ``down`` stops it.

The tests of this module run in order on one project (the daemon runs across them).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.integration.services.helpers import cli, free_port, wait_for

pytestmark = pytest.mark.slow

LB_PORT, METRICS_PORT = free_port(), free_port()
API_URL = f"http://127.0.0.1:{LB_PORT}/cgi-bin/api"

SPEC = """\
apiVersion: stackwright.dev/v1
kind: Service
metadata: {{name: web}}
spec:
  image: {image}
  ports: [8080]
  replicas: {replicas}
  healthCheck: {{http: /healthz, interval: 200ms}}
  rollout: {{healthTimeout: 20s, drainTimeout: 1s}}
---
apiVersion: stackwright.dev/v1
kind: LoadBalancer
metadata: {{name: edge}}
spec:
  http:
    port: {lb}
    routes: [{{service: "${{{{ Service.web.id }}}}", port: 8080}}]
  metricsPort: {metrics}
  checkInterval: 500ms
---
apiVersion: stackwright.dev/v1
kind: SLO
metadata: {{name: availability}}
spec:
  service: web
  objective: 99
  period: 10m
  sli: {{availability: {{port: 8080}}}}
  windows:
    - {{severity: page, short: 5s, long: 20s, budgetPercent: 10}}
    - {{severity: ticket, short: 10s, long: 1m, budgetPercent: 20}}
  alerting:
    name: WebAvailabilityBurn
    annotations: {{runbook: "https://runbooks.example/web"}}
---
apiVersion: stackwright.dev/v1
kind: NotificationChannel
metadata: {{name: oncall}}
spec:
  type: webhook
  webhook: {{url: "http://127.0.0.1:{hook}/hook"}}
  route:
    match: {{sloth_severity: page}}
    groupWait: 0s
    groupInterval: 1s
"""
SETTINGS = """\
settings:
  observe:
    scrapeInterval: 1s
    evaluationInterval: 1s
    alertmanager: {groupWait: 0s, groupInterval: 1s, repeatInterval: 1h, resolveTimeout: 3s}
"""


class Hook:
    """A webhook receiver standing in for a team's endpoint: it keeps every payload."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.payloads.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _write_spec(root: Path, image: str, hook: Hook, replicas: int) -> None:
    (root / "main.yaml").write_text(SPEC.format(image=image, replicas=replicas, lb=LB_PORT,
                                                metrics=METRICS_PORT, hook=hook.port))


@pytest.fixture(scope="module")
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.server.shutdown()


@pytest.fixture(scope="module")
def stack(project_root: Path, app_ref: str, hook: Hook) -> Iterator[dict[str, Any]]:
    config = project_root / "stackwright.yaml"
    config.write_text(config.read_text() + SETTINGS)
    _write_spec(project_root, app_ref, hook, replicas=2)
    done = cli(project_root, "--env", "dev", "up")
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        wait_for("prometheus running", lambda: _component(project_root, "prometheus")
                 .get("state") == "running", 120)
        yield _status(project_root)
    finally:
        cli(project_root, "--env", "dev", "down")
        cli(project_root, "--env", "dev", "destroy", "--yes", "--lock-timeout", "120")


def _status(root: Path) -> dict[str, Any]:
    done = cli(root, "--env", "dev", "status", "-o", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads(done.stdout))


def _component(root: Path, name: str) -> dict[str, Any]:
    daemon = _status(root).get("daemon") or {}
    return dict((daemon.get("components") or {}).get(name) or {})


def _prom(stack: dict[str, Any], path: str) -> Any:
    url = stack["daemon"]["components"]["prometheus"]["url"]
    with urllib.request.urlopen(url + path, timeout=10) as resp:
        return json.loads(resp.read())["data"]


def _targets(stack: dict[str, Any], job: str) -> list[dict[str, Any]]:
    active = _prom(stack, "/api/v1/targets?state=active")["activeTargets"]
    return [t for t in active if t["labels"].get("job") == job]


def _up(stack: dict[str, Any], job: str) -> list[dict[str, Any]]:
    return [t for t in _targets(stack, job) if t["health"] == "up"]


def test_up_starts_the_stack_shown_in_status(stack: dict[str, Any]) -> None:
    components = stack["daemon"]["components"]
    for name in ("prometheus", "alertmanager", "node_exporter"):
        assert components[name]["url"].startswith("http://127.0.0.1:"), components


def test_every_replica_haproxy_node_and_daemon_are_scraped(stack: dict[str, Any]) -> None:
    wait_for("two web replicas up", lambda: len(_up(stack, "services")) == 2, 60)
    labels = [t["labels"] for t in _up(stack, "services")]
    assert {lb["service"] for lb in labels} == {"web"}
    assert {lb["environment"] for lb in labels} == {"dev"}
    assert len({lb["replica"] for lb in labels}) == 2
    assert all(lb["revision"] for lb in labels)
    for job in ("haproxy", "node", "stackwright", "alertmanager"):
        wait_for(f"{job} scraped", lambda job=job: len(_up(stack, job)) == 1, 60)
    runs = _prom(stack, "/api/v1/query?query=stackwright_runs_total")["result"]
    assert any(r["metric"]["operation"] == "apply" for r in runs)


def test_scaled_away_replica_disappears_from_targets(
        stack: dict[str, Any], project_root: Path, app_ref: str, hook: Hook) -> None:
    before = {t["labels"]["replica"] for t in _targets(stack, "services")}
    assert len(before) == 2
    _write_spec(project_root, app_ref, hook, replicas=1)
    done = cli(project_root, "--env", "dev", "apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    wait_for("one web target", lambda: len(_targets(stack, "services")) == 1, 60)
    [left] = _targets(stack, "services")
    assert left["labels"]["replica"] in before and left["health"] == "up"


class Load:
    """Requests through HAProxy from a thread until stopped."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.codes: list[int] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                with urllib.request.urlopen(API_URL, timeout=5) as resp:
                    self.codes.append(resp.status)
            except urllib.error.HTTPError as exc:
                self.codes.append(exc.code)
            except OSError:
                self.codes.append(0)
            time.sleep(0.02)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def _switch(project: str, failing: bool) -> None:
    names = subprocess.run(["podman", "ps", "--format", "{{.Names}}", "--filter",
                            f"label=dev.stackwright.project={project}", "--filter",
                            "label=dev.stackwright.service"],
                           capture_output=True, text=True, check=True).stdout.split()
    assert names
    for name in names:
        cmd = ["touch", "/tmp/fail"] if failing else ["rm", "-f", "/tmp/fail"]
        subprocess.run(["podman", "exec", name, *cmd], check=True, capture_output=True)


def _alerts(root: Path, *args: str) -> list[dict[str, Any]]:
    done = cli(root, "--env", "dev", "alerts", "-o", "json", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return list(json.loads(done.stdout)["alerts"])


def _page(rows: list[dict[str, Any]], status: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["alertname"] == "WebAvailabilityBurn"
            and r["labels"].get("sloth_severity") == "page" and r["status"] == status]


def test_slo_page_fires_routes_records_and_resolves(
        stack: dict[str, Any], project_root: Path, hook: Hook) -> None:
    project = stack["daemon"]["project"]
    with Load() as load:
        wait_for("the SLO's rules loaded", lambda: bool(_prom(
            stack, "/api/v1/query?query=slo:sli_error:ratio_rate5s")["result"]), 60)
        _switch(project, failing=True)
        started = time.monotonic()
        wait_for("page recorded", lambda: bool(_page(_alerts(project_root), "firing")), 90)
        fired_after = time.monotonic() - started
        assert _page(_alerts(project_root, "--firing"), "firing")
        status = json.loads(cli(project_root, "--env", "dev", "slo", "status", "-o", "json")
                            .stdout)["slos"][0]
        assert "page" in status["alerts_firing"] and status["burn_rates"]["5s"] > 3
        _switch(project, failing=False)
        wait_for("resolved recorded", lambda: bool(_page(_alerts(project_root), "resolved")),
                 90)
    assert 500 in load.codes and 200 in load.codes
    assert not _page(_alerts(project_root, "--firing"), "firing")
    fired = _page(_alerts(project_root), "firing")[0]
    assert fired["annotations"]["runbook"] == "https://runbooks.example/web"
    assert fired["labels"]["sloth_service"] == "web" and fired["fingerprint"]
    delivered = [a for p in hook.payloads for a in p["alerts"]
                 if a["labels"].get("alertname") == "WebAvailabilityBurn"]
    assert {a["status"] for a in delivered} == {"firing", "resolved"}
    assert {a["labels"]["sloth_severity"] for a in delivered} == {"page"}
    print(f"page recorded {fired_after:.1f}s after the app started failing")


def _api(stack: dict[str, Any], path: str) -> Any:
    with urllib.request.urlopen(stack["daemon"]["api"] + path, timeout=60) as resp:
        return json.loads(resp.read())


def test_slo_status_and_rules_through_the_api(stack: dict[str, Any], project_root: Path) -> None:
    [rules] = _api(stack, "/api/v1/observe/slos/rules?service=web")["slos"]
    assert rules["slo"] == "availability" and "slo:sli_error:ratio_rate5s" in rules["rules"]
    assert _api(stack, "/api/v1/observe/slos/rules?service=nope")["slos"] == []
    cli_rows = json.loads(cli(project_root, "--env", "dev", "slo", "status", "-o", "json")
                          .stdout)["slos"]
    [row] = _api(stack, "/api/v1/observe/slos")["slos"]
    assert row["slo"] == cli_rows[0]["slo"] == "availability"
    assert row["objective"] == pytest.approx(0.99)
    assert set(row["burn_rates"]) == set(cli_rows[0]["burn_rates"]) >= {"5s", "20s"}


def test_console_panels_chart_the_service_from_prometheus(
        stack: dict[str, Any], project_root: Path) -> None:
    """The panels' HTML, rendered from the real Prometheus after the failing spell above:
    request rate, error ratio and burn charts with data, the SLO row with its budget."""
    from types import SimpleNamespace

    from stackwright.core.engine import Engine
    from stackwright.observe import console
    from stackwright.server.console.panels import PanelView

    prom = SimpleNamespace(status=lambda: stack["daemon"]["components"]["prometheus"])
    ctx = SimpleNamespace(engine=Engine(project_root, environment="dev"),
                          components={"prometheus": prom})
    traffic = console.render_traffic(PanelView(ctx, "resource", None, "Service/web"))
    assert traffic.count("<svg") == 4 and "no data" not in traffic.split("Latency")[0]
    assert "Error ratio (5xx): " in traffic and "SLO burn rate: " in traffic
    slos = console.render_slos(PanelView(ctx, "overview", None))
    assert "web/availability" in slos and "99.000%" in slos
    assert "Traffic is charted" in console.render_traffic(
        PanelView(ctx, "resource", None, "File/x"))


def test_a_domain_alert_is_routed_recorded_and_resolves(
        stack: dict[str, Any], project_root: Path) -> None:
    """recover's path: an Alert handed to stackwright.alerts.send reaches the managed
    Alertmanager through the observe sink, the daemon's receiver records it firing, and it
    resolves by itself (endsAt = its time + resolveTimeout, 3s here)."""
    from stackwright import alerts

    project = stack["daemon"]["project"]
    alert = alerts.Alert(name="RestoreDrillFailed", severity="critical", project=project,
                         environment="dev", resource="RestoreDrill/nightly",
                         summary="restore drill nightly failed: rto 12s > 5s", run="r-42",
                         values={"rto": 12.0}, project_dir=str(project_root))
    assert alerts.send(alert) == len(alerts.sinks()) >= 1

    def mine(status: str) -> list[dict[str, Any]]:
        return [r for r in _alerts(project_root) if r["alertname"] == "RestoreDrillFailed"
                and r["status"] == status]

    wait_for("drill alert recorded firing", lambda: bool(mine("firing")), 60)
    fired = mine("firing")[0]
    assert fired["labels"] == {"alertname": "RestoreDrillFailed", "severity": "critical",
                               "project": project, "environment": "dev",
                               "resource": "RestoreDrill/nightly", "run": "r-42"}
    assert fired["annotations"] == {"summary": "restore drill nightly failed: rto 12s > 5s",
                                    "rto": "12.0"}
    assert fired["receiver"] and fired["ends_at"]
    wait_for("drill alert resolved", lambda: bool(mine("resolved")), 60)


def test_down_stops_the_stack(stack: dict[str, Any], project_root: Path) -> None:
    url = stack["daemon"]["components"]["prometheus"]["url"]
    done = cli(project_root, "--env", "dev", "down")
    assert done.returncode == 0, done.stdout + done.stderr

    def gone() -> bool:
        try:
            urllib.request.urlopen(url + "/-/ready", timeout=2)
        except OSError:
            return True
        return False

    wait_for("prometheus stopped", gone, 60)
