"""Periods written in specs: ``90s``, ``15m``, ``12h``, ``30d`` (rotation schedules, TTLs)."""

from __future__ import annotations

import re
from datetime import timedelta

_PERIOD = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def period(text: str) -> timedelta:
    """The period ``text`` names, or ValueError saying how to write one."""
    match = _PERIOD.match(text.strip())
    if match is None:
        raise ValueError(f"not a period: {text!r} (write 90s, 15m, 12h or 30d)")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)?$")


def seconds(text: str) -> float:
    """``"500ms"``, ``"2s"``, ``"1m"`` or a bare number of seconds, as seconds (timeouts,
    intervals, pauses)."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"not a duration: {text!r} (write 500ms, 2s or 1m)")
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[match.group(2)]
    return float(match.group(1)) * scale
