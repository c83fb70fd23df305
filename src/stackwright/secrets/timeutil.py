"""Durations as Vault writes them (``"1h30m"``, ``"2s"``, ``90``) and RFC 3339 times."""

from __future__ import annotations

import re
import time

from stackwright.secrets.errors import InvalidRequestError

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)")


def parse_duration(value: object, field: str = "ttl") -> int:
    """Whole seconds of a duration given as a number of seconds or a Go duration string."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise InvalidRequestError(f"{field}: expected a duration, got {value!r}")
    if isinstance(value, int | float):
        return _non_negative(int(value), field)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        parts = _PART.findall(text)
        if parts and "".join(n + u for n, u in parts) == text:
            return _non_negative(int(sum(float(n) * _UNITS[u] for n, u in parts)), field)
    raise InvalidRequestError(f"{field}: invalid duration {value!r}", hint='e.g. "30s", "1h30m"')


def _non_negative(seconds: int, field: str) -> int:
    if seconds < 0:
        raise InvalidRequestError(f"{field}: a duration cannot be negative")
    return seconds


def format_duration(seconds: int) -> str:
    if seconds == 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{secs}s" if secs or not text else "")


def now_us() -> int:
    return time.time_ns() // 1000


def rfc3339(us: int | None) -> str:
    """Vault's time format; empty for "never"."""
    if not us:
        return ""
    seconds, micros = divmod(us, 1_000_000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{micros:06d}Z"
