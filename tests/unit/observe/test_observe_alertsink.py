"""A domain's Alert as Alertmanager's API v2 takes it, and the sink's refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stackwright.alerts import Alert
from stackwright.errors import StackwrightError
from stackwright.observe.alertsink import payload, post_alert

ALERT = Alert(name="BackupFailed", severity="critical", project="obs-p", environment="dev",
              resource="BackupPolicy/nightly", summary="backup nightly failed: disk full",
              run="r-1", at="2026-12-03T09:00:00+00:00", values={"bytes": 10, "gone": None})


def test_labels_annotations_and_an_end_so_it_resolves() -> None:
    doc = payload(ALERT, timedelta(minutes=5))
    assert doc["labels"] == {"alertname": "BackupFailed", "severity": "critical",
                             "project": "obs-p", "environment": "dev",
                             "resource": "BackupPolicy/nightly", "run": "r-1"}
    assert doc["annotations"] == {"summary": "backup nightly failed: disk full", "bytes": "10"}
    assert doc["startsAt"] == "2026-12-03T09:00:00.000Z"
    assert doc["endsAt"] == "2026-12-03T09:05:00.000Z"


def test_an_alert_without_a_time_starts_now() -> None:
    now = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    from dataclasses import replace

    doc = payload(replace(ALERT, at=None, run=""), timedelta(seconds=30), now=now)
    assert doc["startsAt"] == "2026-12-03T10:00:00.000Z" and "run" not in doc["labels"]
    assert doc["endsAt"] == "2026-12-03T10:00:30.000Z"


def test_no_project_directory_or_no_daemon_is_an_error(tmp_path: Path) -> None:
    from dataclasses import replace

    with pytest.raises(StackwrightError, match="no project directory"):
        post_alert(ALERT)
    with pytest.raises(StackwrightError, match="no daemon runs"):
        post_alert(replace(ALERT, project_dir=str(tmp_path)))


def test_send_skips_a_failing_sink_and_counts_the_others() -> None:
    from stackwright import alerts

    got: list[Alert] = []

    def broken(alert: Alert) -> None:
        raise RuntimeError("down")

    assert alerts.send(ALERT, [broken, got.append]) == 1 and got == [ALERT]
    assert "observe" in [ep.__module__.split(".")[1] for ep in alerts.sinks()]
