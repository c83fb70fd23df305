"""Cron schedules and the cron controller's decisions (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from stackwright.workloads.cron import CronJobSpec
from stackwright.workloads.schedule import Concurrency, decide, latest_due, next_after

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
EVERY_15 = "*/15 * * * *"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_latest_due_counts_a_time_equal_to_now_and_none_before_the_first() -> None:
    assert latest_due(EVERY_15, T0, at(14)) is None
    assert latest_due(EVERY_15, T0, at(15)) == at(15)
    assert latest_due(EVERY_15, T0, at(50)) == at(45)


def test_a_due_run_starts_once() -> None:
    first = decide(EVERY_15, last=T0, now=at(15.1), active=[], policy=Concurrency.FORBID,
                   deadline=60)
    assert first.start and first.scheduled == at(15)
    again = decide(EVERY_15, last=first.scheduled, now=at(15.2), active=[],  # type: ignore[arg-type]
                   policy=Concurrency.FORBID, deadline=60)
    assert not again.start and again.scheduled is None


def test_runs_missed_by_more_than_the_deadline_are_skipped_not_backfilled() -> None:
    d = decide(EVERY_15, last=T0, now=at(47), active=[], policy=Concurrency.ALLOW,
               deadline=60)
    assert not d.start and d.scheduled == at(45) and "missed" in (d.note or "")
    late_ok = decide(EVERY_15, last=T0, now=at(47), active=[], policy=Concurrency.ALLOW,
                     deadline=None)
    assert late_ok.start and late_ok.scheduled == at(45)


@pytest.mark.parametrize(("policy", "start", "stop"), [
    (Concurrency.FORBID, False, False),
    (Concurrency.ALLOW, True, False),
    (Concurrency.REPLACE, True, True),
])
def test_concurrency_policies(policy: Concurrency, start: bool, stop: bool) -> None:
    d = decide(EVERY_15, last=T0, now=at(15), active=["run1"], policy=policy, deadline=60)
    assert (d.start, d.stop_active, d.scheduled) == (start, stop, at(15))


def test_suspended_jobs_advance_without_running() -> None:
    d = decide(EVERY_15, last=T0, now=at(15), active=[], policy=Concurrency.ALLOW,
               deadline=60, suspended=True)
    assert not d.start and d.scheduled == at(15) and d.note == "suspended"


def test_time_zones_shift_the_schedule() -> None:
    # 09:00 in Paris on 1 March 2026 is 08:00 UTC
    assert next_after("0 9 * * *", T0.replace(hour=0), "Europe/Paris") == \
        datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def test_seconds_field() -> None:
    assert next_after("* * * * * */2", T0) == T0 + timedelta(seconds=2)


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=1, max_value=600))
def test_no_due_time_is_ever_in_the_future_or_before_last(offset: int, span: int) -> None:
    last = T0 + timedelta(minutes=offset)
    now = last + timedelta(minutes=span)
    due = latest_due(EVERY_15, last, now)
    assert due is None or last < due <= now
    if due is not None:
        assert next_after(EVERY_15, due) > now


def test_spec_rejects_bad_schedules_and_zones_with_a_hint() -> None:
    with pytest.raises(ValidationError, match="five fields"):
        CronJobSpec.model_validate({"schedule": "61 * * * *", "image": "x"})
    with pytest.raises(ValidationError, match="unknown time zone"):
        CronJobSpec.model_validate({"schedule": "@daily", "image": "x", "timeZone": "Mars/Base"})
    with pytest.raises(ValidationError, match="concurrencyPolicy"):
        CronJobSpec.model_validate({"schedule": "@daily", "image": "x",
                                    "concurrencyPolicy": "Sometimes"})
