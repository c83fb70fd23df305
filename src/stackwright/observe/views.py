"""What the observe commands and API routes show, computed from the engine (no printing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stackwright.core.engine import Engine
from stackwright.core.values import contains_unknown
from stackwright.observe.paths import ObservePaths
from stackwright.observe.slo import compiled_for
from stackwright.observe.slo_rules import ERROR_RATIO
from stackwright.tools.prometheus import http_get


def compiled_slos(engine: Engine, service: str | None = None) -> list[dict[str, Any]]:
    """Each declared SLO (of ``service``) with its rule file's path and text."""
    paths = ObservePaths.of(engine.root, engine.environment)
    found = []
    for address, decl in engine.project.declared.items():
        if address.kind != "SLO" or (service and decl.spec.get("service") != service):
            continue
        ctx = engine.driver_context(address)
        spec = dict(decl.spec)
        if contains_unknown(spec) or "${{" in str(spec):
            continue  # references resolve at apply; the command shows literal specs
        found.append({"slo": address.name, "service": spec.get("service"),
                      "path": str(paths.rule_file("SLO", address.name)),
                      "rules": compiled_for(ctx, address.name, spec)})
    return found


def prometheus_url(engine: Engine) -> str:
    """The managed Prometheus of the running daemon; an error says how to start it."""
    return component_url(engine.root, engine.environment, "prometheus")


def component_url(root: Path, environment: str, name: str, timeout: float = 30) -> str:
    """The URL of a running component (``prometheus``, ``alertmanager``) of the daemon of a
    project environment; an error says how to start it."""
    from stackwright.errors import StackwrightError
    from stackwright.server.rundir import RunDir

    info = RunDir.of(root, environment).read_info()
    if info is None:
        raise StackwrightError("no daemon runs for this project and environment",
                               hint=f"`stackwright up` starts it with {name}")
    status, body = http_get(f"{info['api']}/api/v1/status", timeout=timeout)
    comp = (json.loads(body).get("components") or {}).get(name) if status == 200 else None
    if not comp or comp.get("state") != "running":
        raise StackwrightError(f"the daemon's {name} is not running",
                               hint=f"see `stackwright status`: {comp}")
    return str(comp["url"])


def query(url: str, promql: str) -> list[dict[str, Any]]:
    from urllib.parse import quote

    from stackwright.errors import StackwrightError

    status, body = http_get(f"{url}/api/v1/query?query={quote(promql)}", timeout=30)
    if status != 200:
        raise StackwrightError(f"Prometheus answered {status} to {promql!r}",
                               hint=body.decode(errors="replace")[:300])
    return list(json.loads(body)["data"]["result"])


def slo_status(engine: Engine, service: str | None = None,
               url: str | None = None) -> list[dict[str, Any]]:
    """SLI now, objective, budget remaining, burn rate per window, alerts firing (from
    ``url``, else the daemon's Prometheus)."""
    url = url or prometheus_url(engine)
    rows = []
    for doc in compiled_slos(engine, service):
        sloth_id = f"{doc['service']}-{doc['slo']}"
        series = query(url, f'{{__name__=~"slo:.+", sloth_id="{sloth_id}"}}')
        firing = query(url, f'ALERTS{{alertstate="firing", sloth_id="{sloth_id}"}}')
        rows.append(status_row(doc, series, firing))
    return rows


def status_row(doc: dict[str, Any], series: list[dict[str, Any]],
               firing: list[dict[str, Any]]) -> dict[str, Any]:
    """One SLO's status from its recorded series (pure)."""
    values: dict[str, float] = {}
    ratios: dict[str, float] = {}
    for s in series:
        name, value = s["metric"]["__name__"], float(s["value"][1])
        if name.startswith(ERROR_RATIO):
            ratios[s["metric"].get("sloth_window", "")] = value
        else:
            values[name] = value
    budget = values.get("slo:error_budget:ratio")
    windows = sorted(ratios, key=_window_seconds)
    burn = {w: (ratios[w] / budget if budget else None) for w in windows}
    sli = 1 - ratios[windows[0]] if windows else None
    return {"slo": doc["slo"], "service": doc["service"],
            "objective": values.get("slo:objective:ratio"), "sli": sli,
            "error_budget_remaining": values.get("slo:period_error_budget_remaining:ratio"),
            "burn_rates": burn,
            "alerts_firing": sorted({a["metric"].get("sloth_severity", "") for a in firing})}


def _window_seconds(window: str) -> float:
    from stackwright.durations import period

    try:
        return period(window).total_seconds()
    except ValueError:
        return float("inf")


def render_slo_status(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["no SLO declared"]
    lines = []
    for r in rows:
        lines.append(f"{r['service']}/{r['slo']}: SLI {_pct(r['sli'])} (objective "
                     f"{_pct(r['objective'])}), error budget remaining "
                     f"{_pct(r['error_budget_remaining'])}, firing: "
                     f"{', '.join(r['alerts_firing']) or 'none'}")
        burns = "  ".join(f"{w} {b:.2f}x" if b is not None and b == b else f"{w} -"
                          for w, b in r["burn_rates"].items())
        lines.append(f"  burn rate: {burns or '(no data yet)'}")
    return lines


def _pct(value: float | None) -> str:
    if value is None or value != value:  # NaN: no traffic in the window
        return "-"
    return f"{value * 100:.3f}%"


def alert_rows(engine: Engine, *, firing: bool = False,
               since: str | None = None) -> list[dict[str, Any]]:
    from stackwright.observe.notifications import NotificationStore
    from stackwright.observe.routes import since_epoch

    try:
        start = since_epoch(since)
    except ValueError as exc:
        from stackwright.errors import StackwrightError

        raise StackwrightError(str(exc), hint="--since takes 90s, 15m, 12h or 7d") from None
    store = NotificationStore(engine.state_url, engine.name, engine.environment)
    try:
        return store.query(since=start, firing=firing)
    finally:
        store.close()


def render_alerts(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["no alert notifications"]
    from datetime import UTC, datetime

    lines = []
    for r in rows:
        when = datetime.fromtimestamp(r["received_at"], UTC).isoformat(timespec="seconds")
        labels = ", ".join(f"{k}={v}" for k, v in sorted(r["labels"].items())
                           if k != "alertname")
        lines.append(f"{when}  {r['status']:<8} {r['alertname']}  {labels}  "
                     f"[{r['fingerprint']}]")
        summary = r["annotations"].get("summary")
        if summary:
            lines.append(f"    {summary}")
    return lines
