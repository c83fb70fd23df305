"""The generated SLO rules under ``promtool test rules`` on synthetic series: a fast burn
pages within minutes, a slow burn tickets (and does not page), a burn within budget stays
silent, low traffic holds the alerts when a minimum event rate is set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from stackwright.core.kinds import DriverContext
from stackwright.observe.slo import compiled_for
from stackwright.tools import prometheus as prom

pytestmark = pytest.mark.slow

ALERT = "WebAvailabilityHighErrorBudgetBurn"
IDS = {"sloth_id": "web-availability", "sloth_service": "web", "sloth_slo": "availability",
       "team": "shop"}
SLI = {"events": {
    "errorQuery": 'sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))',
    "totalQuery": "sum(rate(http_requests_total[{{.window}}]))"}}


def _slo(**extra: Any) -> dict[str, Any]:
    return {"service": "web", "objective": 99.9, "period": "30d", "sli": SLI,
            "labels": {"team": "shop"}, **extra}


def _alert(severity: str) -> dict[str, Any]:
    return {"exp_labels": {**IDS, "sloth_severity": severity},
            # annotations are checked as well: Sloth's defaults, expanded
            "exp_annotations": {
                "title": f"({severity}) web availability SLO error budget burn rate is too fast.",
                "summary": "web availability SLO error budget burn rate is over expected."}}


def _run(tmp_path: Path, slo: dict[str, Any], series: list[dict[str, str]],
         checks: list[tuple[str, list[str]]], interval: str = "1m") -> prom.CheckResult:
    ctx = DriverContext(tmp_path, "dev", project="obs-promtool")
    rules = tmp_path / "slo.yaml"
    rules.write_text(compiled_for(ctx, "availability", slo))
    assert prom.check_rules([rules]).ok
    tests = {"rule_files": [rules.name], "evaluation_interval": interval, "tests": [{
        "interval": interval, "input_series": series,
        "alert_rule_test": [{"eval_time": at, "alertname": ALERT,
                             "exp_alerts": [_alert(s) for s in severities]}
                            for at, severities in checks]}]}
    test_file = tmp_path / "slo_test.yaml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    return prom.test_rules(test_file)


def _series(good: str, bad: str) -> list[dict[str, str]]:
    return [{"series": 'http_requests_total{code="200"}', "values": good},
            {"series": 'http_requests_total{code="500"}', "values": bad}]


def test_fast_burn_pages_within_minutes(tmp_path: Path) -> None:
    # 1 good request/s throughout; from minute 120 also 0.5 errors/s (33% errors, 333x budget)
    series = _series("0+60x300", "0x120 30+30x180")
    result = _run(tmp_path, _slo(), series, [
        ("119m", []),                   # no error yet: silent
        ("126m", ["page", "ticket"]),   # 5m and 1h both above 14.4x within six minutes
    ])
    assert result.ok, result.output


def test_fast_burn_that_does_not_page_fails_the_test(tmp_path: Path) -> None:
    """The harness can fail: expecting silence during a fast burn is reported by promtool."""
    series = _series("0+60x300", "0x120 30+30x180")
    result = _run(tmp_path, _slo(), series, [("126m", [])])
    assert not result.ok
    assert "sloth_severity" in result.output


def test_slow_burn_tickets_and_does_not_page(tmp_path: Path) -> None:
    # 200 requests/min; after 3h of good traffic, 1 error/min (0.5%: 5x budget)
    series = _series("0+200x600", "0x180 1+1x420")
    result = _run(tmp_path, _slo(), series, [
        ("200m", []),             # 20 min in: 6h window still far below 1x
        ("280m", ["ticket"]),     # 6h above 1x and 3d above 1x, never 6x or 14.4x
        ("500m", ["ticket"]),
    ])
    assert result.ok, result.output


def test_burn_within_budget_stays_silent(tmp_path: Path) -> None:
    # 0.05% errors (half the budget's rate) for 10 hours
    series = _series("0+1999x600", "0+1x600")
    checks: list[tuple[str, list[str]]] = [(f"{m}m", []) for m in (10, 60, 120, 360, 600)]
    result = _run(tmp_path, _slo(), series, checks)
    assert result.ok, result.output


def test_low_traffic_holds_burn_alerts_below_min_event_rate(tmp_path: Path) -> None:
    # 3 requests a minute (0.05/s), a third of them errors: pages without a minimum rate
    series = _series("0+2x300", "0x120 1+1x180")
    assert _run(tmp_path, _slo(), series, [("130m", ["page", "ticket"])]).ok
    held = _run(tmp_path, _slo(minEventRate=0.1), series, [("130m", []), ("290m", [])])
    assert held.ok, held.output


def test_custom_windows_page_in_seconds(tmp_path: Path) -> None:
    windows = [{"severity": "page", "short": "10s", "long": "1m", "budgetPercent": 10},
               {"severity": "ticket", "short": "1m", "long": "5m", "budgetPercent": 20}]
    slo = _slo(period="1h", windows=windows)
    # every 5 s: 10 good requests; from 3 min on, 10 errors too (50% errors)
    series = _series("0+10x120", "0x36 10+10x84")
    result = _run(tmp_path, slo, series, [("175s", []), ("200s", ["page", "ticket"])],
                  interval="5s")
    assert result.ok, result.output


def test_invalid_promql_is_a_located_spec_error(tmp_path: Path) -> None:
    from stackwright.core.engine import Engine
    from stackwright.errors import SpecErrors

    (tmp_path / "stackwright.yaml").write_text("project: obs-promql\n")
    (tmp_path / "slo.yaml").write_text(
        "apiVersion: stackwright.dev/v1\nkind: SLO\nmetadata: {name: availability}\n"
        "spec:\n  service: web\n  objective: 99.9\n  sli:\n    events:\n"
        "      errorQuery: sum(rate(errors[{{.window}}])\n"
        "      totalQuery: sum(rate(requests[{{.window}}]))\n")
    with pytest.raises(SpecErrors) as info:
        _ = Engine(tmp_path).project
    [error] = info.value.errors
    assert str(error).startswith("slo.yaml:9:7: spec.sli.events.errorQuery: invalid PromQL")
    assert "unclosed left parenthesis" in str(error)


def test_invalid_promql_of_an_alert_rule_and_an_override_are_located(tmp_path: Path) -> None:
    from stackwright.core.engine import Engine
    from stackwright.errors import SpecErrors

    (tmp_path / "stackwright.yaml").write_text(
        "project: obs-promql2\nenvironments:\n  dev: {}\n  prod:\n    overrides:\n"
        "      AlertRule/web-down:\n        spec:\n          expr: up ==\n")
    (tmp_path / "rules.yaml").write_text(
        "apiVersion: stackwright.dev/v1\nkind: AlertRule\nmetadata: {name: web-down}\n"
        "spec:\n  severity: page\n  for: 1m\n  expr: |\n    sum(rate(x[5m])) by (\n")
    with pytest.raises(SpecErrors) as info:
        _ = Engine(tmp_path, environment="dev").project
    [error] = info.value.errors
    assert str(error).startswith("rules.yaml:7:3: spec.expr: invalid PromQL")
    with pytest.raises(SpecErrors) as info:
        _ = Engine(tmp_path, environment="prod").project
    [error] = info.value.errors
    assert str(error).startswith("stackwright.yaml:8:11: spec.expr: invalid PromQL"), str(error)
