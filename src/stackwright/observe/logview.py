"""``stackwright logs`` and ``GET /api/v1/observe/logs``: one query, two front ends."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stackwright.durations import period
from stackwright.errors import StackwrightError
from stackwright.observe.logstore import LEVELS, LogStore, Query
from stackwright.observe.paths import ObservePaths


def log_db(project_dir: Path, environment: str) -> Path:
    return ObservePaths.of(project_dir, environment).root / "logs.db"


def point_in_time(text: str | None, flag: str) -> float | None:
    """``10m`` (ago) or an ISO time (``2026-12-03T09:00:00Z``) as epoch seconds."""
    if text is None:
        return None
    try:
        return time.time() - period(text).total_seconds()
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise StackwrightError(f"{flag} {text!r} is neither a period nor a time",
                               hint=f"{flag} 10m, {flag} 2h or {flag} 2026-12-03T09:00:00Z"
                               ) from None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


def make_query(service: str | None, *, since: str | None = None, until: str | None = None,
               grep: str | None = None, level: str | None = None,
               revision: str | None = None, limit: int = 1000) -> Query:
    if level is not None and level not in LEVELS:
        raise StackwrightError(f"unknown level {level!r}", hint=f"one of {', '.join(LEVELS)}")
    return Query(service=service, since=point_in_time(since, "--since"),
                 until=point_in_time(until, "--until"), grep=grep, level=level,
                 revision=revision, limit=limit)


def open_store(project_dir: Path, environment: str) -> LogStore:
    path = log_db(project_dir, environment)
    if not path.exists():
        raise StackwrightError("no logs collected yet for this environment",
                               hint="the daemon collects them: `stackwright up`")
    return LogStore(path)


def render_line(row: dict[str, Any]) -> str:
    when = datetime.fromtimestamp(row["time"], UTC).isoformat(timespec="milliseconds")
    who = f"{row['service']}/{row['revision'] or '-'}/{row['replica'] or '-'}"
    level = f" {row['level'].upper()}" if row.get("level") else ""
    err = " !" if row["stream"] == "stderr" else ""
    return f"{when} {who}{err}{level} {row['message']}"
