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
