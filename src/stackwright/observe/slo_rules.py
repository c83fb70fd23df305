"""SLO → Prometheus rule groups, with Sloth's rule names and labels (pure).

Three groups per SLO, as ``sloth generate`` writes them: the SLI error ratio per window
(``slo:sli_error:ratio_rate5m`` … and the period's), the metadata (objective, error budget,
current and period burn rate, budget remaining, ``sloth_slo_info``) and the page/ticket
alerts (multiwindow multi-burn-rate, labelled ``sloth_severity``). Dashboards and alerts
written for Sloth's output work on these unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from stackwright import __version__
from stackwright.observe.slo_spec import WINDOW_PLACEHOLDER, SLOSpec, duration_seconds
from stackwright.observe.windows import Window, burn_windows, prom_duration, sli_windows

ERROR_RATIO = "slo:sli_error:ratio_rate"
TOTAL_RATE = "slo:sli_total:rate"  # events per second, only with minEventRate (not Sloth's)
_SLOTH_KEYS = ("sloth_id", "sloth_service", "sloth_slo")


@dataclass(frozen=True)
class SLOTarget:
    """Who the SLO's built-in SLIs are about: project and environment name the series."""

    name: str  # the resource's name: sloth_slo unless the spec names it
    environment: str
    haproxy_backend: str | None = None  # the service's HAProxy backend, for availability


@dataclass(frozen=True)
class Queries:
    error_ratio: str  # PromQL over {{.window}}
    total_rate: str


def slo_ids(spec: SLOSpec, target: SLOTarget) -> dict[str, str]:
    slo = spec.name or target.name
    return {"sloth_id": f"{spec.service}-{slo}", "sloth_service": spec.service,
            "sloth_slo": slo}


def selector(ids: Mapping[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{ids[k]}"' for k in _SLOTH_KEYS) + "}"


def sli_queries(spec: SLOSpec, target: SLOTarget) -> Queries:
    """The error ratio and the event rate, as PromQL ranging over ``{{.window}}``."""
    sli = spec.sli
    if sli.events is not None:
        total = sli.events.totalQuery
        if sli.events.errorQuery is not None:
            return Queries(f"({sli.events.errorQuery})\n/\n({total})", total)
        return Queries(f"1 - (({sli.events.goodQuery})\n/\n({total}))", total)
    if sli.availability is not None:
        proxy = f'proxy="{target.haproxy_backend}"'
        total = f"sum(rate(haproxy_backend_http_responses_total{{{proxy}}}[{WINDOW_PLACEHOLDER}]))"
        bad = ("sum(rate(haproxy_backend_http_responses_total"
               f'{{{proxy}, code="5xx"}}[{WINDOW_PLACEHOLDER}]))')
        return Queries(f"({bad})\n/\n({total})", total)
    assert sli.latency is not None
    where = f'service="{spec.service}", environment="{target.environment}"'
    total = f"sum(rate({sli.latency.histogram}_count{{{where}}}[{WINDOW_PLACEHOLDER}]))"
    fast = (f"sum(rate({sli.latency.histogram}_bucket{{{where}, "
            f'le="{sli.latency.threshold}"}}[{WINDOW_PLACEHOLDER}]))')
    return Queries(f"1 - (({fast})\n/\n({total}))", total)


def error_budget(spec: SLOSpec) -> float:
    return round(1 - spec.objective / 100, 12)


def compile_slo(spec: SLOSpec, target: SLOTarget) -> dict[str, Any]:
    """The Prometheus rule file (``{"groups": [...]}``) for one SLO."""
    ids = slo_ids(spec, target)
    windows = burn_windows(spec)
    groups = [
        {"name": f"sloth-slo-sli-recordings-{ids['sloth_id']}",
         "rules": _sli_rules(spec, target, ids, windows)},
        {"name": f"sloth-slo-meta-recordings-{ids['sloth_id']}",
         "rules": _meta_rules(spec, ids)},
    ]
    if spec.alerting.enabled:
        groups.append({"name": f"sloth-slo-alerts-{ids['sloth_id']}",
                       "rules": _alert_rules(spec, ids, windows)})
    return {"groups": groups}


class _RulesDumper(yaml.SafeDumper):
    """Multi-line PromQL as literal blocks, as Sloth writes it; no YAML anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_RulesDumper.add_representer(str, _text)


def render_rules(rules: Mapping[str, Any]) -> str:
    return yaml.dump(dict(rules), Dumper=_RulesDumper, sort_keys=False, width=200)


def _labels(spec: SLOSpec, ids: Mapping[str, str], **extra: str) -> dict[str, str]:
    return {**spec.labels, **ids, **extra}


def _sli_rules(spec: SLOSpec, target: SLOTarget, ids: Mapping[str, str],
               windows: list[Window]) -> list[dict[str, Any]]:
    queries = sli_queries(spec, target)
    rules = []
    for seconds in sli_windows(windows):
        w = prom_duration(seconds)
        rules.append({"record": ERROR_RATIO + w,
                      "expr": queries.error_ratio.replace(WINDOW_PLACEHOLDER, w) + "\n",
                      "labels": _labels(spec, ids, sloth_window=w)})
    if spec.minEventRate is not None:
        for seconds in sorted({w.long for w in windows}):
            w = prom_duration(seconds)
            rules.append({"record": TOTAL_RATE + w,
                          "expr": queries.total_rate.replace(WINDOW_PLACEHOLDER, w) + "\n",
                          "labels": _labels(spec, ids, sloth_window=w)})
    rules.append(_period_rule(spec, ids, prom_duration(sli_windows(windows)[0])))
    return rules


def _period_rule(spec: SLOSpec, ids: Mapping[str, str], base: str) -> dict[str, Any]:
    """The period's ratio, averaged from the shortest window's (as Sloth does with 5m)."""
    period = prom_duration(duration_seconds(spec.period))
    series = f"{ERROR_RATIO}{base}{selector(ids)}"
    return {"record": ERROR_RATIO + period,
            "expr": (f"sum_over_time({series}[{period}])\n/ ignoring (sloth_window)\n"
                     f"count_over_time({series}[{period}])\n"),
            "labels": _labels(spec, ids, sloth_window=period)}


def _meta_rules(spec: SLOSpec, ids: Mapping[str, str]) -> list[dict[str, Any]]:
    sel = selector(ids)
    period = prom_duration(duration_seconds(spec.period))
    on = "/ on(sloth_id, sloth_slo, sloth_service) group_left\n"
    labels = _labels(spec, ids)
    info = _labels(spec, ids, sloth_mode="stackwright", sloth_spec="stackwright.dev/v1",
                   sloth_version=__version__, sloth_objective=_num(spec.objective))
    return [
        {"record": "slo:objective:ratio", "expr": f"vector({_num(spec.objective / 100)})",
         "labels": labels},
        {"record": "slo:error_budget:ratio", "expr": f"vector({_num(error_budget(spec))})",
         "labels": labels},
        {"record": "slo:time_period:days",
         "expr": f"vector({_num(duration_seconds(spec.period) / 86400)})", "labels": labels},
        {"record": "slo:current_burn_rate:ratio",
         "expr": f"{ERROR_RATIO}{prom_duration(_shortest(spec))}{sel}\n{on}"
                 f"slo:error_budget:ratio{sel}\n", "labels": labels},
        {"record": "slo:period_burn_rate:ratio",
         "expr": f"{ERROR_RATIO}{period}{sel}\n{on}slo:error_budget:ratio{sel}\n",
         "labels": labels},
        {"record": "slo:period_error_budget_remaining:ratio",
         "expr": f"1 - slo:period_burn_rate:ratio{sel}", "labels": labels},
        {"record": "sloth_slo_info", "expr": "vector(1)", "labels": info},
    ]


def _shortest(spec: SLOSpec) -> int:
    return sli_windows(burn_windows(spec))[0]


def _alert_rules(spec: SLOSpec, ids: Mapping[str, str],
                 windows: list[Window]) -> list[dict[str, Any]]:
    name = spec.alerting.name or _default_alert_name(ids)
    rules = []
    for severity in ("page", "ticket"):
        mine = [w for w in windows if w.severity == severity]
        if not mine:
            continue
        text = spec.alerting.page if severity == "page" else spec.alerting.ticket
        rules.append({
            "alert": name,
            "expr": _burn_expr(spec, ids, mine),
            "labels": {**spec.alerting.labels, **text.labels, "sloth_severity": severity},
            "annotations": {**_default_annotations(severity), **spec.alerting.annotations,
                            **text.annotations},
        })
    return rules


def _burn_expr(spec: SLOSpec, ids: Mapping[str, str], windows: list[Window]) -> str:
    sel = selector(ids)
    budget = _num(error_budget(spec))
    terms = []
    for w in windows:
        threshold = f"({_num(w.factor)} * {budget})"
        parts = [f"max({ERROR_RATIO}{prom_duration(s)}{sel} > {threshold}) without (sloth_window)"
                 for s in (w.short, w.long)]
        if spec.minEventRate is not None:
            rate = f"{TOTAL_RATE}{prom_duration(w.long)}{sel}"
            parts.append(f"max({rate} >= {_num(spec.minEventRate)}) without (sloth_window)")
        terms.append("(\n    " + "\n    and\n    ".join(parts) + "\n)")
    return "\nor\n".join(terms) + "\n"


def _default_alert_name(ids: Mapping[str, str]) -> str:
    words = f"{ids['sloth_service']}-{ids['sloth_slo']}".replace("_", "-").replace(".", "-")
    return "".join(p[:1].upper() + p[1:] for p in words.split("-") if p) + "HighErrorBudgetBurn"


def _default_annotations(severity: str) -> dict[str, str]:
    who = "{{$labels.sloth_service}} {{$labels.sloth_slo}}"
    return {"title": f"({severity}) {who} SLO error budget burn rate is too fast.",
            "summary": f"{who} SLO error budget burn rate is over expected."}


def _num(value: float) -> str:
    """A number as PromQL reads it, without float noise (0.0009999999 → 0.001)."""
    return f"{value:.10g}"
