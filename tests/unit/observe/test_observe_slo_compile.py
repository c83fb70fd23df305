"""The SLO compiler: Sloth's rule names and labels, burn factors per period, custom windows,
minimum event rate, and the spec's own checks."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from stackwright.observe.slo_rules import SLOTarget, compile_slo, render_rules
from stackwright.observe.slo_spec import SLOSpec
from stackwright.observe.windows import burn_windows, prom_duration, sli_windows

SLI = {"events": {"errorQuery": "sum(rate(errors[{{.window}}]))",
                  "totalQuery": "sum(rate(requests[{{.window}}]))"}}
TARGET = SLOTarget(name="availability", environment="dev", haproxy_backend="sw-p-dev-web_8080")


def _spec(**extra: Any) -> SLOSpec:
    return SLOSpec.model_validate({"service": "web", "objective": 99.9, "sli": SLI, **extra})


def _rules(spec: SLOSpec) -> list[dict[str, Any]]:
    return [r for g in compile_slo(spec, TARGET)["groups"] for r in g["rules"]]


def test_sloth_record_names_and_windows_for_30d() -> None:
    records = [r["record"] for r in _rules(_spec()) if "record" in r]
    windows = ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"]
    assert records[:8] == [f"slo:sli_error:ratio_rate{w}" for w in windows]
    assert records[8:] == ["slo:objective:ratio", "slo:error_budget:ratio",
                           "slo:time_period:days", "slo:current_burn_rate:ratio",
                           "slo:period_burn_rate:ratio",
                           "slo:period_error_budget_remaining:ratio", "sloth_slo_info"]


def test_sloth_labels_and_groups() -> None:
    spec = _spec(labels={"team": "shop"})
    groups = compile_slo(spec, TARGET)["groups"]
    assert [g["name"] for g in groups] == ["sloth-slo-sli-recordings-web-availability",
                                           "sloth-slo-meta-recordings-web-availability",
                                           "sloth-slo-alerts-web-availability"]
    first = groups[0]["rules"][0]
    assert first["labels"] == {"team": "shop", "sloth_id": "web-availability",
                               "sloth_service": "web", "sloth_slo": "availability",
                               "sloth_window": "5m"}
    assert first["expr"].strip() == "(sum(rate(errors[5m])))\n/\n(sum(rate(requests[5m])))"
    alerts = groups[2]["rules"]
    assert [a["labels"]["sloth_severity"] for a in alerts] == ["page", "ticket"]
    assert {a["alert"] for a in alerts} == {"WebAvailabilityHighErrorBudgetBurn"}


def test_objective_and_budget_without_float_noise() -> None:
    meta = {r["record"]: r["expr"] for r in _rules(_spec()) if "record" in r}
    assert meta["slo:objective:ratio"] == "vector(0.999)"
    assert meta["slo:error_budget:ratio"] == "vector(0.001)"
    assert meta["slo:time_period:days"] == "vector(30)"


def test_google_factors_for_30d_and_scaled_for_28d() -> None:
    assert [(w.severity, prom_duration(w.short), prom_duration(w.long), w.factor)
            for w in burn_windows(_spec())] == [
        ("page", "5m", "1h", 14.4), ("page", "30m", "6h", 6.0),
        ("ticket", "2h", "1d", 3.0), ("ticket", "6h", "3d", 1.0)]
    assert [w.factor for w in burn_windows(_spec(period="28d"))] == [13.44, 5.6, 2.8, 0.933333]


def test_short_periods_scale_the_windows_and_keep_the_factors() -> None:
    windows = burn_windows(_spec(period="1d"))  # 1/30 of 30d
    assert [(w.short, w.long) for w in windows] == [(60, 120), (60, 720), (240, 2880),
                                                    (720, 8640)]  # 10s → at least 1m
    assert [w.factor for w in windows] == [14.4, 6.0, 3.0, 1.0]


def test_custom_windows_are_the_only_windows() -> None:
    spec = _spec(period="1h", windows=[
        {"severity": "page", "short": "10s", "long": "1m", "budgetPercent": 10}])
    assert [prom_duration(s) for s in sli_windows(burn_windows(spec))] == ["10s", "1m"]
    alerts = [r for r in _rules(spec) if "alert" in r]
    assert [a["labels"]["sloth_severity"] for a in alerts] == ["page"]
    assert "(6 * 0.001)" in alerts[0]["expr"]  # 10% of 1h spent in 1m


def test_min_event_rate_guards_every_condition() -> None:
    spec = _spec(minEventRate=0.5)
    records = {r["record"] for r in _rules(spec) if "record" in r}
    assert {"slo:sli_total:rate1h", "slo:sli_total:rate6h", "slo:sli_total:rate1d",
            "slo:sli_total:rate3d"} <= records
    page = next(r for r in _rules(spec) if r.get("labels", {}).get("sloth_severity") == "page")
    assert page["expr"].count(">= 0.5") == 2


def test_haproxy_availability_reads_the_service_backend() -> None:
    spec = _spec(sli={"availability": {"port": 8080}})
    expr = _rules(spec)[0]["expr"]
    assert 'haproxy_backend_http_responses_total{proxy="sw-p-dev-web_8080", code="5xx"}' in expr


def test_latency_reads_the_service_histogram() -> None:
    spec = _spec(sli={"latency": {"histogram": "http_request_duration_seconds",
                                  "threshold": "0.3"}})
    expr = _rules(spec)[0]["expr"]
    assert ('http_request_duration_seconds_bucket{service="web", environment="dev", '
            'le="0.3"}[5m]') in expr


def test_alerting_texts_and_disable() -> None:
    spec = _spec(alerting={"name": "WebBurn", "annotations": {"runbook": "https://rb/web"},
                           "page": {"labels": {"route": "oncall"}}})
    page = next(r for r in _rules(spec) if "alert" in r)
    assert page["alert"] == "WebBurn"
    assert page["labels"] == {"route": "oncall", "sloth_severity": "page"}
    assert page["annotations"]["runbook"] == "https://rb/web"
    assert not [r for r in _rules(_spec(alerting={"enabled": False})) if "alert" in r]
    assert "sloth_severity: page" in render_rules(compile_slo(spec, TARGET))


@pytest.mark.parametrize(("extra", "message"), [
    ({"sli": {"events": {"totalQuery": "sum(rate(r[{{.window}}]))"}}}, "exactly one of"),
    ({"sli": {"events": {"errorQuery": "sum(rate(e[5m]))",
                         "totalQuery": "sum(rate(r[{{.window}}]))"}}}, "{{.window}}"),
    ({"objective": 100}, "less than 100"),
    ({"period": "4w"}, "not a period"),
    ({"labels": {"sloth_id": "x"}}, "not starting with sloth_"),
    ({"period": "1h", "windows": [{"severity": "page", "short": "1m", "long": "2h",
                                   "budgetPercent": 2}]}, "longer than the period"),
    ({"windows": [{"severity": "page", "short": "1h", "long": "5m",
                   "budgetPercent": 2}]}, "shorter than long"),
])
def test_invalid_specs_say_why(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        _spec(**extra)
    assert message in str(info.value)
