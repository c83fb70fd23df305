"""Every alert notification Alertmanager sent the daemon (webhook payload version 4), kept
in the state database: the history Alertmanager itself does not keep."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from stackwright.core.state.domains import migrate, open_domain_engine
from stackwright.errors import StackwrightError
from stackwright.observe.schema import notifications

MIGRATIONS = Path(__file__).parent / "migrations"
PREFIX = "observe_"


class PayloadError(StackwrightError):
    """A webhook body that is not Alertmanager's version 4 payload."""


def parse_payload(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per alert of a v4 payload; PayloadError names what is missing."""
    if str(payload.get("version")) != "4":
        raise PayloadError(f"webhook payload version {payload.get('version')!r}, not '4'",
                           hint="point only Alertmanager's webhook_configs here")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError("the payload has no alerts list")
    return [_row(payload, alert) for alert in alerts]


def _row(payload: Mapping[str, Any], alert: Any) -> dict[str, Any]:
    if not isinstance(alert, dict) or "fingerprint" not in alert:
        raise PayloadError("an alert without a fingerprint")
    labels = dict(alert.get("labels") or {})
    return {
        "receiver": str(payload.get("receiver", "")),
        "status": str(alert.get("status") or payload.get("status", "")),
        "alertname": str(labels.get("alertname", "")),
        "severity": labels.get("sloth_severity") or labels.get("severity"),
        "fingerprint": str(alert["fingerprint"]),
        "starts_at": alert.get("startsAt"), "ends_at": alert.get("endsAt"),
        "labels": json.dumps(labels, sort_keys=True),
        "annotations": json.dumps(dict(alert.get("annotations") or {}), sort_keys=True),
        "generator_url": alert.get("generatorURL"),
        "group_key": payload.get("groupKey"),
    }


class NotificationStore:
    """The observe_notifications table of one project and environment."""

    def __init__(self, state_url: str, project: str, environment: str) -> None:
        self.engine = open_domain_engine(state_url)
        self.project = project
        self.environment = environment
        self._migrated = False
        self._lock = threading.Lock()

    def _ready(self) -> None:
        with self._lock:
            if not self._migrated:
                migrate(self.engine, MIGRATIONS, PREFIX)
                self._migrated = True

    def record(self, payload: Mapping[str, Any], *, now: float | None = None) -> int:
        rows = parse_payload(payload)
        self._ready()
        received = time.time() if now is None else now
        with self.engine.begin() as conn:
            for row in rows:
                conn.execute(notifications.insert().values(
                    project=self.project, environment=self.environment,
                    received_at=received, **row))
        return len(rows)

    def query(self, *, since: float | None = None, firing: bool = False,
              limit: int = 500) -> list[dict[str, Any]]:
        """Newest first; ``firing``: only each alert's latest notification, if it fires."""
        self._ready()
        t = notifications
        where = [t.c.project == self.project, t.c.environment == self.environment]
        if since is not None:
            where.append(t.c.received_at >= since)
        stmt = sa.select(t).where(*where).order_by(t.c.received_at.desc(), t.c.id.desc())
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(stmt.limit(limit if not firing
                                                                        else 100_000))]
        if firing:
            latest: dict[str, dict[str, Any]] = {}
            for row in rows:
                latest.setdefault(row["fingerprint"], row)
            rows = [r for r in latest.values() if r["status"] == "firing"][:limit]
        return [_public(r) for r in rows]

    def close(self) -> None:
        self.engine.dispose()


def _public(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in ("project", "environment")}
    out["labels"] = json.loads(row["labels"])
    out["annotations"] = json.loads(row["annotations"])
    return out
