"""Generated configs pass the real checkers: Alertmanager's (amtool check-config) with every
channel type, routes and mute times; Prometheus' (promtool check config) with rule files;
AlertRule files under promtool test rules; the notification store on SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from stackwright.core.kinds import DriverContext
from stackwright.observe import alertmanager_config as amc
from stackwright.observe import prometheus_config as pc
from stackwright.observe.alerting import alert_rule_text
from stackwright.observe.channel_spec import AlertRuleSpec, NotificationChannelSpec
from stackwright.observe.notifications import NotificationStore, PayloadError
from stackwright.observe.paths import ObservePaths
from stackwright.observe.settings import AlertmanagerSettings, ObserveSettings
from stackwright.tools import prometheus as prom

pytestmark = pytest.mark.slow

CHANNELS: list[tuple[str, dict[str, Any]]] = [
    ("hook", {"type": "webhook", "webhook": {"url": "http://127.0.0.1:9/hook"}}),
    ("chat", {"type": "slack", "slack": {"url": "https://hooks.example/T0/B0/x",
                                         "channel": "#oncall"},
              "route": {"match": {"sloth_severity": "page"}, "matchRegex": {"service": "web|api"},
                        "groupBy": ["alertname"], "repeatInterval": "1h"},
              "muteTimes": [{"weekdays": ["saturday", "sunday"],
                             "times": [{"start": "00:00", "end": "08:00"}],
                             "location": "Europe/Berlin"}]}),
    ("mail", {"type": "email", "email": {"to": "ops@example.com", "from": "sw@example.com",
                                         "smarthost": "127.0.0.1:25", "authUsername": "sw",
                                         "authPassword": "pw"}, "sendResolved": False}),
]


def _channels() -> list[tuple[str, NotificationChannelSpec]]:
    return [(n, NotificationChannelSpec.model_validate(s)) for n, s in CHANNELS]


def test_alertmanager_config_passes_amtool(tmp_path: Path) -> None:
    config = amc.alertmanager_config(_channels(), "http://127.0.0.1:8200",
                                     AlertmanagerSettings())
    path = tmp_path / "alertmanager.yml"
    path.write_text(amc.render(config))
    checked = prom.check_alertmanager_config(path)
    assert checked.ok, checked.output
    routes = config["route"]["routes"]
    assert [r["receiver"] for r in routes] == ["stackwright", "chat", "hook", "mail"]
    assert routes[0]["continue"] is True  # the daemon sees every alert, channels still do
    chat = routes[1]
    assert chat["matchers"] == ['sloth_severity="page"', 'service=~"web|api"']
    assert chat["mute_time_intervals"] == ["chat-mute"]
    assert config["time_intervals"][0]["time_intervals"][0]["location"] == "Europe/Berlin"


def test_broken_alertmanager_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text("route: {receiver: nobody}\nreceivers: []\n")
    assert not prom.check_alertmanager_config(path).ok


def test_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    paths = ObservePaths(tmp_path)
    paths.rules.mkdir(parents=True)
    spec = AlertRuleSpec.model_validate({"expr": 'up{job="services"} == 0', "for": "1m",
                                         "severity": "page", "service": "web",
                                         "runbook": "https://rb/web-down"})
    (paths.rules / "AlertRule-WebDown.yaml").write_text(
        alert_rule_text(DriverContext(tmp_path, "dev"), "WebDown", spec))
    config = pc.prometheus_config("p", "dev", paths, ObserveSettings(), pc.Endpoints(
        "127.0.0.1:9090", "127.0.0.1:9093", "127.0.0.1:9100", "127.0.0.1:8200"))
    path = tmp_path / "prometheus.yml"
    path.write_text(pc.render(config))
    checked = prom.check_config(path)
    assert checked.ok, checked.output
    assert "SUCCESS: 1 rules found" in checked.output
    jobs = [j["job_name"] for j in config["scrape_configs"]]
    assert jobs == ["services", "haproxy", "prometheus", "alertmanager", "node", "stackwright"]


def test_alert_rule_fires_after_its_for(tmp_path: Path) -> None:
    spec = AlertRuleSpec.model_validate({"expr": 'up{job="services"} == 0', "for": "2m",
                                         "severity": "page", "service": "web",
                                         "summary": "web is down", "runbook": "https://rb/x"})
    (tmp_path / "rules.yaml").write_text(
        alert_rule_text(DriverContext(tmp_path, "dev"), "WebDown", spec))
    expected = {"exp_labels": {"alertname": "WebDown", "job": "services", "severity": "page",
                               "service": "web"},
                "exp_annotations": {"summary": "web is down", "runbook_url": "https://rb/x"}}
    tests = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": [{"series": 'up{job="services"}',
                                            "values": "1 1 0 0 0 0 0"}],
        "alert_rule_test": [{"eval_time": "3m", "alertname": "WebDown", "exp_alerts": []},
                            {"eval_time": "5m", "alertname": "WebDown",
                             "exp_alerts": [expected]}]}]}
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(tests))
    result = prom.test_rules(tmp_path / "test.yaml")
    assert result.ok, result.output


PAYLOAD = {
    "version": "4", "status": "firing", "receiver": "stackwright", "groupKey": "{}:{}",
    "alerts": [{"status": "firing", "labels": {"alertname": "WebBurn", "sloth_severity": "page"},
                "annotations": {"summary": "burning"}, "startsAt": "2026-12-03T08:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "abc123",
                "generatorURL": "http://127.0.0.1:9090/graph"}],
}


def test_notification_store_keeps_history_and_knows_what_fires(tmp_path: Path) -> None:
    store = NotificationStore(f"sqlite:///{tmp_path / 'state.db'}", "p", "dev")
    other = NotificationStore(f"sqlite:///{tmp_path / 'state.db'}", "p", "prod")
    assert store.record(PAYLOAD, now=100.0) == 1
    assert other.record(PAYLOAD, now=100.0) == 1
    assert [r["severity"] for r in store.query(firing=True)] == ["page"]
    resolved = {**PAYLOAD, "status": "resolved",
                "alerts": [{**PAYLOAD["alerts"][0], "status": "resolved",  # type: ignore[index]
                            "endsAt": "2026-12-03T08:05:00Z"}]}
    store.record(resolved, now=200.0)
    rows = store.query()
    assert [r["status"] for r in rows] == ["resolved", "firing"]
    assert rows[1]["labels"] == {"alertname": "WebBurn", "sloth_severity": "page"}
    assert store.query(firing=True) == []
    assert len(store.query(since=150.0)) == 1
    assert len(other.query(firing=True)) == 1  # environments are kept apart
    with pytest.raises(PayloadError):
        store.record({"version": "3", "alerts": []})
    store.close()
    other.close()
