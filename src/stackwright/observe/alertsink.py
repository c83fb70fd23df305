"""The observe domain's sink in the ``stackwright.alerts`` group: an alert another domain
raises (a failed restore drill, a failed backup) is posted to the project's managed
Alertmanager (``POST /api/v2/alerts``), so it is routed like any alert: to the daemon's own
receiver (``stackwright alerts``) and to every NotificationChannel whose route matches.

Labels: ``alertname``, ``severity``, ``project``, ``environment``, ``resource`` (and
``run`` when there is one); annotations: ``summary`` (and the alert's values). ``endsAt`` is
the alert's time plus Alertmanager's ``resolveTimeout``: an event is not a state that a
later evaluation clears, so it resolves by itself (a resolved notification follows).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stackwright.alerts import Alert
from stackwright.errors import StackwrightError


def post_alert(alert: Alert) -> None:
    """Post ``alert`` to the Alertmanager of its project's running daemon."""
    from stackwright.observe.views import component_url
    from stackwright.tools.prometheus import http_post

    if not alert.project_dir:
        raise StackwrightError(f"alert {alert.name} names no project directory",
                               hint="set Alert.project_dir to the project's root")
    root = Path(alert.project_dir)
    url = component_url(root, alert.environment, "alertmanager", timeout=10)
    status, body = http_post(f"{url}/api/v2/alerts", timeout=10,
                             json_body=[payload(alert, _resolve_after(root))])
    if status != 200:
        raise StackwrightError(f"Alertmanager answered {status} to alert {alert.name}",
                               hint=body.decode(errors="replace")[:300])


def payload(alert: Alert, resolve_after: timedelta,
            now: datetime | None = None) -> dict[str, Any]:
    """The alert as Alertmanager's API v2 takes it."""
    starts = _time(alert.at) or now or datetime.now(UTC)
    labels = {"alertname": alert.name, "severity": alert.severity, "project": alert.project,
              "environment": alert.environment, "resource": alert.resource}
    if alert.run:
        labels["run"] = alert.run
    annotations = {"summary": alert.summary}
    annotations.update({k: _text(v) for k, v in sorted(alert.values.items())
                        if v is not None and k not in annotations})
    return {"labels": labels, "annotations": annotations, "startsAt": _iso(starts),
            "endsAt": _iso(starts + resolve_after)}


def _resolve_after(root: Path) -> timedelta:
    from stackwright.core.spec.config import parse_config
    from stackwright.durations import period
    from stackwright.observe.settings import observe_settings

    config, _ = parse_config(root)
    settings = observe_settings(config.settings if config is not None else {})
    return period(settings.alertmanager.resolveTimeout)


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
