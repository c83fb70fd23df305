"""Pure parts of discovery and of ``slo status``."""

from __future__ import annotations

from stackwright.observe.discovery import MetricsProbe, ReplicaTarget, service_targets
from stackwright.observe.views import render_slo_status, status_row


def test_each_replica_is_its_own_target_group_with_its_labels() -> None:
    groups = service_targets("dev", [ReplicaTarget("web", "r2", "2", "c2", "127.0.0.1:4002"),
                                     ReplicaTarget("web", "r2", "1", "c1", "127.0.0.1:4001")])
    assert [g["targets"] for g in groups] == [["127.0.0.1:4001"], ["127.0.0.1:4002"]]
    assert groups[0]["labels"] == {"service": "web", "environment": "dev", "revision": "r2",
                                   "replica": "1", "container": "c1"}


def test_a_port_is_probed_once_per_container() -> None:
    calls: list[str] = []

    def get(url: str) -> tuple[int, bytes]:
        calls.append(url)
        return (200, b"# HELP x y\nx 1\n") if "4001" in url else (200, b"<html>hi</html>")

    probe = MetricsProbe(get=get)
    assert probe.exposes("c1", "127.0.0.1:4001") and probe.exposes("c1", "127.0.0.1:4001")
    assert not probe.exposes("c1", "127.0.0.1:8080")
    assert len(calls) == 2
    probe.forget_except(set())
    assert probe.exposes("c1", "127.0.0.1:4001") and len(calls) == 3


def _series(name: str, value: float, window: str | None = None) -> dict[str, object]:
    metric = {"__name__": name, **({"sloth_window": window} if window else {})}
    return {"metric": metric, "value": [0, str(value)]}


def test_status_row_reads_sli_budget_and_burn_rates() -> None:
    series = [_series("slo:sli_error:ratio_rate5m", 0.02, "5m"),
              _series("slo:sli_error:ratio_rate1h", 0.005, "1h"),
              _series("slo:error_budget:ratio", 0.001), _series("slo:objective:ratio", 0.999),
              _series("slo:period_error_budget_remaining:ratio", 0.4)]
    firing = [{"metric": {"sloth_severity": "page"}}]
    row = status_row({"slo": "availability", "service": "web"}, series, firing)
    assert row["sli"] == 0.98 and row["objective"] == 0.999
    assert row["burn_rates"] == {"5m": 20.0, "1h": 5.0}
    assert row["alerts_firing"] == ["page"]
    lines = render_slo_status([row])
    assert lines[0].startswith("web/availability: SLI 98.000% (objective 99.900%)")
    assert "5m 20.00x" in lines[1] and "firing: page" in lines[0]


def test_alert_rules_are_named_in_camel_case_unless_named() -> None:
    from stackwright.observe.alerting import alert_rule_group
    from stackwright.observe.channel_spec import AlertRuleSpec

    spec = AlertRuleSpec.model_validate({"expr": "up == 0", "severity": "page"})
    [rule] = alert_rule_group("web-replica-down", spec)["groups"][0]["rules"]
    assert rule["alert"] == "WebReplicaDown" and rule["labels"] == {"severity": "page"}
    named = AlertRuleSpec.model_validate({"expr": "up == 0", "alert": "Down:Web"})
    assert alert_rule_group("x", named)["groups"][0]["rules"][0]["alert"] == "Down:Web"
