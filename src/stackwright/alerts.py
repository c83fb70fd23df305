"""The seam between a domain that raises alerts and whoever pages people: a domain (recover:
failed drills, missed objectives, failed scheduled backups) hands :class:`Alert` values to
:func:`send`, which gives each to every sink registered in the ``stackwright.alerts``
entry-point group (a callable ``(Alert) -> None``).

The observability domain registers its alert path there (``observe``: a post to the
project's managed Alertmanager, routed like any alert). A sink that raises is skipped and
logged (an alert must never fail the run that raised it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

ALERTS_GROUP = "stackwright.alerts"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    """One alert, labelled like a Prometheus alert (name, severity, resource) with a
    summary; never holds a secret. ``project_dir`` is where the project lives, so that a
    sink can find the project's own services (its daemon, its Alertmanager)."""

    name: str
    severity: str
    project: str
    environment: str
    resource: str
    summary: str
    run: str
    at: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    project_dir: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def sinks() -> list[Any]:
    from importlib.metadata import entry_points

    return [ep.load() for ep in sorted(entry_points(group=ALERTS_GROUP), key=lambda e: e.name)]


def send(alert: Alert, to: Sequence[Callable[[Alert], Any]] | None = None) -> int:
    """Hand ``alert`` to every registered sink (or to ``to``); how many took it."""
    taken = 0
    for sink in sinks() if to is None else to:
        try:
            sink(alert)
            taken += 1
        except Exception:  # noqa: BLE001 - a broken sink must not fail the drill's record
            log.exception("alert sink %r failed", sink)
    return taken
