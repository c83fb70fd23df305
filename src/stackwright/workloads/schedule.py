"""Cron schedules and the pure decisions of the cron controller.

What to do at ``now`` is a function of the schedule, the last scheduled time, the runs still
active and the spec's policies: :func:`decide`. The controller only carries it out.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter


class Concurrency(enum.StrEnum):
    ALLOW = "Allow"
    FORBID = "Forbid"
    REPLACE = "Replace"


def check_schedule(expression: str) -> str:
    """The expression, or ValueError with what a valid one looks like."""
    if not croniter.is_valid(expression):
        raise ValueError(
            f"{expression!r} is not a cron schedule: five fields 'minute hour day month "
            "weekday' (e.g. '*/15 * * * *'), a sixth for seconds, or @hourly/@daily/...")
    return expression


def check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (an IANA name like 'Europe/Paris')") \
            from exc
    return name


def next_after(expression: str, after: datetime, zone: str = "UTC") -> datetime:
    """The first scheduled time strictly after ``after`` (aware datetimes)."""
    local = after.astimezone(ZoneInfo(zone))
    found: datetime = croniter(expression, local).get_next(datetime)
    return found


def latest_due(expression: str, last: datetime, now: datetime, zone: str = "UTC"
               ) -> datetime | None:
    """The latest scheduled time in (last, now], or None when none is due."""
    # croniter's get_prev is strictly before its base: a base just after ``now`` lets a time
    # equal to ``now`` count.
    base = (now + timedelta(microseconds=1)).astimezone(ZoneInfo(zone))
    due: datetime = croniter(expression, base).get_prev(datetime)
    return due if due > last else None


@dataclass(frozen=True)
class Decision:
    """What the controller does this tick for one cron job."""

    start: bool
    scheduled: datetime | None  # the scheduled time this tick accounts for
    stop_active: bool = False
    note: str | None = None  # why a due run did not start (missed, forbidden)


def decide(expression: str, *, last: datetime, now: datetime, active: Sequence[str],
           policy: Concurrency, deadline: float | None, zone: str = "UTC",
           suspended: bool = False) -> Decision:
    """Start a run? For at most one due time (the latest), as Kubernetes' CronJob does."""
    due = latest_due(expression, last, now, zone)
    if due is None:
        return Decision(False, None)
    if suspended:
        return Decision(False, due, note="suspended")
    if deadline is not None and now - due > timedelta(seconds=deadline):
        return Decision(False, due, note=f"missed: more than {deadline:g}s late")
    if active and policy is Concurrency.FORBID:
        return Decision(False, due, note="skipped: the previous run is still active")
    return Decision(True, due, stop_active=bool(active) and policy is Concurrency.REPLACE)
