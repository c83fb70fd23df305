"""The seam between recover and whoever pages people: failed drills, missed objectives and
failed scheduled backups become :class:`Alert` values handed to every sink registered in the
``stackwright.alerts`` entry-point group (a callable ``(Alert) -> None``).

The observability domain registers its alert path there (Alertmanager); until one is
installed, alerts are only what the ``backups`` controller reports: a failed run in
``stackwright status`` and a ``backup.alert`` event in the daemon's log. A sink that raises
is skipped (an alert must never fail the run that raised it).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

ALERTS_GROUP = "stackwright.alerts"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    """One alert, labelled like a Prometheus alert (name, severity, resource) with a
    summary; never holds a secret."""

    name: str
    severity: str
    project: str
    environment: str
    resource: str
    summary: str
    run: str
    at: str | None = None
    values: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def sinks() -> list[Any]:
    from importlib.metadata import entry_points

    return [ep.load() for ep in sorted(entry_points(group=ALERTS_GROUP), key=lambda e: e.name)]


def send(alert: Alert) -> int:
    """Hand ``alert`` to every registered sink; how many took it."""
    taken = 0
    for sink in sinks():
        try:
            sink(alert)
            taken += 1
        except Exception:  # noqa: BLE001 - a broken sink must not fail the drill's record
            log.exception("alert sink %r failed", sink)
    return taken
