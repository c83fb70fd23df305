"""The observe domain's console panels (``stackwright.console_panels``) and the fragments
they load (served under ``/console/observe/``):

- overview: each SLO's SLI, objective, error budget remaining and firing severities; the
  alerts firing now (the daemon's receiver's record);
- a service's page: its logs tail with a search (htmx: the form swaps in
  ``/console/observe/logs``), its request rate, error ratio and latency from HAProxy's
  exporter and its SLOs' burn rate, as inline SVG charts read from the managed Prometheus;
- an Alerts page (in the navigation): every notification received, newest first.
"""

from __future__ import annotations

import time
from html import escape
from typing import TYPE_CHECKING, Any

from stackwright.observe.charts import Point, line_chart
from stackwright.server.console.panels import ConsolePanel, PanelView

if TYPE_CHECKING:
    from stackwright.server.app import PlatformContext

LOG_KINDS = ("Service", "Job", "CronJob")  # resources whose containers' lines are collected
CHART_MINUTES = 30


def prometheus_of(ctx: PlatformContext) -> str | None:
    comp = ctx.components.get("prometheus")
    doc = comp.status() if comp is not None else {}
    return str(doc["url"]) if doc.get("state") == "running" else None


def _pct(value: Any) -> str:
    if not isinstance(value, float | int) or value != value:
        return "–"
    return f"{value * 100:.3f}%"


def render_slos(view: PanelView) -> str:
    from stackwright.observe.views import compiled_slos, slo_status

    url = prometheus_of(view.ctx)
    if url is None:
        declared = compiled_slos(view.ctx.engine)
        return (f'<p class="muted">{len(declared)} SLO(s) declared; the managed Prometheus '
                "is not running, so their status is unknown.</p>")
    rows = slo_status(view.ctx.engine, None, url=url)
    if not rows:
        return '<p class="muted">No SLO declared.</p>'
    body = "".join(
        f"<tr><td>{escape(str(r['service']))}/{escape(r['slo'])}</td><td>{_pct(r['sli'])}</td>"
        f"<td>{_pct(r['objective'])}</td><td>{_pct(r['error_budget_remaining'])}</td>"
        f"<td class=\"{'bad' if r['alerts_firing'] else 'ok'}\">"
        f"{escape(', '.join(r['alerts_firing']) or 'none')}</td></tr>" for r in rows)
    return ('<div class="wrap"><table><thead><tr><th scope="col">SLO</th>'
            '<th scope="col">SLI</th><th scope="col">Objective</th>'
            '<th scope="col">Error budget remaining</th><th scope="col">Firing</th></tr>'
            f"</thead><tbody>{body}</tbody></table></div>")


def _alerts_table(rows: list[dict[str, Any]], empty: str) -> str:
    from datetime import UTC, datetime

    if not rows:
        return f'<p class="muted">{escape(empty)}</p>'
    body = []
    for r in rows:
        when = datetime.fromtimestamp(r["received_at"], UTC).isoformat(timespec="seconds")
        labels = ", ".join(f"{k}={v}" for k, v in sorted(r["labels"].items())
                           if k != "alertname")
        summary = r["annotations"].get("summary") or r["annotations"].get("title") or ""
        cls = "bad" if r["status"] == "firing" else "ok"
        body.append(f"<tr><td>{escape(when)}</td><td class=\"{cls}\">{escape(r['status'])}"
                    f"</td><td>{escape(r['alertname'])}</td>"
                    f"<td>{escape(summary)}</td><td class=\"hide-narrow\"><code>"
                    f"{escape(labels)}</code></td></tr>")
    return ('<div class="wrap"><table><thead><tr><th scope="col">Received</th>'
            '<th scope="col">Status</th><th scope="col">Alert</th><th scope="col">Summary</th>'
            '<th scope="col" class="hide-narrow">Labels</th></tr></thead><tbody>'
            f"{''.join(body)}</tbody></table></div>")


def alert_rows(ctx: PlatformContext, *, firing: bool, limit: int = 200) -> list[dict[str, Any]]:
    from stackwright.observe.notifications import NotificationStore

    eng = ctx.engine
    store = NotificationStore(eng.state_url, eng.name, eng.environment)
    try:
        return store.query(firing=firing, limit=limit)
    finally:
        store.close()


def render_firing(view: PanelView) -> str:
    return _alerts_table(alert_rows(view.ctx, firing=True), "No alert is firing.") + \
        '<p><a href="/console/observe/alerts">Every notification received</a></p>'


def render_alert_history(ctx: PlatformContext) -> str:
    return _alerts_table(alert_rows(ctx, firing=False, limit=500),
                         "No alert notification received yet.")


def _service_of(view: PanelView) -> str | None:
    kind, _, name = (view.address or "").partition("/")
    return name if kind in LOG_KINDS and name else None


def render_logs(view: PanelView) -> str:
    service = _service_of(view)
    if service is None:
        return '<p class="muted">Logs are collected for services, jobs and cron jobs.</p>'
    target = f"logs-{escape(service)}"
    levels = "".join(f'<option value="{lv}">{lv} and above</option>'
                     for lv in ("debug", "info", "warn", "error", "fatal"))
    form = (f'<form class="logsearch" role="search" action="/console/observe/logs" '
            f'hx-get="/console/observe/logs" hx-target="#{target}" hx-swap="innerHTML">'
            f'<input type="hidden" name="service" value="{escape(service)}">'
            '<label>Search logs <input type="search" name="grep" '
            'placeholder="text in the line"></label> '
            '<label>Level <select name="level"><option value="">any</option>'
            f"{levels}</select></label> <button type=\"submit\">Search</button></form>")
    return form + f'<div id="{target}" aria-live="polite">{logs_fragment(view.ctx, service)}</div>'


def logs_fragment(ctx: PlatformContext, service: str, grep: str | None = None,
                  level: str | None = None, limit: int = 50) -> str:
    """The newest matching lines as a table (what the search swaps in)."""
    from stackwright.errors import StackwrightError
    from stackwright.observe.logview import make_query, render_line, store_for

    try:
        query = make_query(service, grep=grep or None, level=level or None, limit=limit)
        store = store_for(ctx.engine, create=True)
    except StackwrightError as exc:
        return f'<p class="bad">{escape(str(exc))}</p>'
    try:
        rows = store.query(query)
    finally:
        store.close()
    what = f" matching “{escape(grep)}”" if grep else ""
    if not rows:
        return f'<p class="muted logcount">No log lines{what}.</p>'
    lines = "\n".join(escape(render_line(r)) for r in rows)
    return (f'<p class="muted logcount">The newest {len(rows)} line(s){what}.</p>'
            f'<pre class="logs">{lines}</pre>')


def _range(url: str, promql: str, minutes: int = CHART_MINUTES) -> list[Point]:
    import json
    from urllib.parse import quote

    from stackwright.tools.prometheus import http_get

    end = time.time()
    start, step = end - minutes * 60, max(minutes * 60 / 120, 1.0)
    status, body = http_get(f"{url}/api/v1/query_range?query={quote(promql)}&start={start}"
                            f"&end={end}&step={step}", timeout=10)
    if status != 200:
        return []
    result = json.loads(body)["data"]["result"]
    return [(float(t), float(v)) for t, v in result[0]["values"]] if result else []


def traffic_queries(proxy_regex: str, service: str) -> dict[str, str]:
    proxy = f'proxy=~"{proxy_regex}"'
    total = f"sum(rate(haproxy_backend_http_responses_total{{{proxy}}}[1m]))"
    return {
        "requests": total,
        "errors": f'sum(rate(haproxy_backend_http_responses_total{{{proxy}, code="5xx"}}[1m]))'
                  f" / {total}",
        "latency": f"max(haproxy_backend_response_time_average_seconds{{{proxy}}})",
        "burn": f'max by (sloth_slo) (slo:current_burn_rate:ratio{{sloth_service="{service}"}})',
    }


def render_traffic(view: PanelView) -> str:
    kind, _, service = (view.address or "").partition("/")
    if kind != "Service" or not service:
        return '<p class="muted">Traffic is charted for services.</p>'
    url = prometheus_of(view.ctx)
    if url is None:
        return '<p class="muted">The managed Prometheus is not running.</p>'
    from stackwright.core.model import Address
    from stackwright.services.identity import identity

    ident = identity(view.ctx.engine.driver_context(Address("Service", service)), service).id
    queries = traffic_queries(f"{ident}_[0-9]+", service)
    charts = [line_chart("Requests", _range(url, queries["requests"]), " req/s"),
              line_chart("Error ratio (5xx)", _range(url, queries["errors"])),
              line_chart("Latency (average)", _range(url, queries["latency"]), " s"),
              line_chart("SLO burn rate", _range(url, queries["burn"]), "x", threshold=1.0)]
    return (f'<p class="muted">The last {CHART_MINUTES} minutes, from the managed '
            f'Prometheus.</p><div class="cards">{"".join(charts)}</div>')


SLO_PANEL = ConsolePanel(name="observe-slos", title="SLOs", render=render_slos,
                         pages=("overview",))
FIRING_PANEL = ConsolePanel(name="observe-firing", title="Alerts firing",
                            render=render_firing, pages=("overview",),
                            nav=("Alerts", "/console/observe/alerts"))
LOGS_PANEL = ConsolePanel(name="observe-logs", title="Logs", render=render_logs,
                          pages=("resource",))
TRAFFIC_PANEL = ConsolePanel(name="observe-traffic", title="Traffic", render=render_traffic,
                             pages=("resource",))
