"""Recover's alerts go through the generic seam, :mod:`stackwright.alerts` (moved there so
that any domain raises alerts the same way); this module keeps recover's names."""

from stackwright import alerts as _alerts
from stackwright.alerts import ALERTS_GROUP, Alert, sinks

__all__ = ["ALERTS_GROUP", "Alert", "send", "sinks"]


def send(alert: Alert) -> int:
    """Hand ``alert`` to every sink :func:`sinks` (of this module) names."""
    return _alerts.send(alert, sinks())
