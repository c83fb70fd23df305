"""Pure parts of the recover domain: specs, snapshot choice, times, objectives, retention
flags, restic error translation, the controller's schedule decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from stackwright.errors import PermanentError
from stackwright.recover.drills import objectives_missed, scratch_env
from stackwright.recover.kinds import DrillSpec, PolicySpec, RepositorySpec, Retention
from stackwright.recover.platform import Source
from stackwright.recover.restore import Restored, choose, parse_time, restic_time
from stackwright.tools import restic
from stackwright.tools.restic import Repo, Snapshot


def snap(id_: str, time: str, source: str, run: str, safety: bool = False) -> Snapshot:
    tags = (f"sw-source={source}", f"sw-run={run}", *(("sw-safety",) if safety else ()))
    return Snapshot(id_ * 8, id_ * 4, time, ("/x",), tags, "h")


SNAPS = [snap("a", "2026-12-03T08:00:00.123456789Z", "Database/db", "r1"),
         snap("b", "2026-12-03T08:00:01Z", "Volume/v", "r1"),
         snap("c", "2026-12-03T09:00:00Z", "Database/db", "r2"),
         snap("d", "2026-12-03T09:30:00Z", "Database/db", "r3", safety=True)]
SOURCES = [Source("Database", "db"), Source("Volume", "v")]


def test_choose_newest_skips_safety_snapshots() -> None:
    picked = choose(SNAPS, SOURCES, snapshot=None, at=None)
    assert [(s.label, p.id[0]) for s, p in picked] == [("Database/db", "c"), ("Volume/v", "b")]


def test_choose_at_a_time_takes_the_newest_before_it() -> None:
    at = parse_time("2026-12-03T08:30:00Z")
    picked = choose(SNAPS, SOURCES, snapshot=None, at=at)
    assert [p.id[0] for _, p in picked] == ["a", "b"]


def test_choose_by_run_or_snapshot_id() -> None:
    assert [p.id[0] for _, p in choose(SNAPS, SOURCES, snapshot="r3", at=None)] == ["d"]
    assert [p.id[0] for _, p in choose(SNAPS, SOURCES, snapshot="bbbb", at=None)] == ["b"]
    with pytest.raises(PermanentError, match="no snapshot or run"):
        choose(SNAPS, SOURCES, snapshot="zzz", at=None)
    with pytest.raises(PermanentError, match="at or before"):
        choose(SNAPS, SOURCES, snapshot=None, at=parse_time("2020-01-01T00:00:00Z"))


def test_times() -> None:
    assert restic_time("2026-12-03T08:00:00.123456789Z") == datetime(
        2026, 12, 3, 8, 0, 0, 123456, tzinfo=UTC)
    assert restic_time("2026-12-03T09:00:00.5+01:00") == datetime(2026, 12, 3, 8, 0, 0, 500000,
                                                                   tzinfo=UTC)
    with pytest.raises(PermanentError, match="no time zone"):
        parse_time("2026-12-03T08:00:00")
    with pytest.raises(PermanentError, match="not a time"):
        parse_time("yesterday")


def test_specs_validate() -> None:
    with pytest.raises(ValidationError, match="exactly one of path"):
        RepositorySpec.model_validate({})
    with pytest.raises(ValidationError, match="read-data-subset"):
        RepositorySpec.model_validate({"path": "r", "check": {"readDataSubset": "lots"}})
    with pytest.raises(ValidationError, match="cron schedule"):
        PolicySpec.model_validate({"repository": "r", "sources": {}, "schedule": "daily"})
    with pytest.raises(ValidationError, match="not a period"):
        PolicySpec.model_validate({"repository": "r", "sources": {},
                                   "objectives": {"rpo": "an hour"}})
    drill = DrillSpec.model_validate({"policy": "p", "checks": {"sql": [
        {"query": "SELECT 1", "expect": [[1]]}]}})
    assert drill.checks.sql[0].expect == [[1]]


def test_retention_flags() -> None:
    keep = Retention.model_validate({"keepLast": 3, "keepDaily": 7, "keepMonthly": 12}).keep()
    assert keep == {"last": 3, "daily": 7, "monthly": 12}
    with pytest.raises(ValidationError):
        Retention.model_validate({"keepLast": 0})


def test_objectives() -> None:
    policy = PolicySpec.model_validate({"repository": "r", "sources": {},
                                        "objectives": {"rto": "1m", "rpo": "1h"}})
    assert objectives_missed(policy, 59.0, 3599.0) == []
    missed = objectives_missed(policy, 61.0, 3601.0)
    assert missed[0].startswith("RTO 61.0s") and missed[1].startswith("RPO 3601.0s")


def test_scratch_env_names() -> None:
    items = [Restored("Database/shop-db", "s", "t", "scratch", {"url": "postgresql://x"}),
             Restored("Volume/up", "s", "t", "scratch", {"path": "/p"})]
    assert scratch_env(items) == {"SCRATCH_SHOP_DB_URL": "postgresql://x",
                                  "SCRATCH_UP_DIR": "/p"}


@pytest.mark.parametrize(("stderr", "kind"), [
    ("Fatal: unable to save snapshot: write /r/data/x: no space left on device",
     restic.RepositoryFullError),
    ("Fatal: unable to open config file: Stat: dial tcp 127.0.0.1:1: connect: connection "
     "refused", restic.RepositoryUnreachableError),
    ("Fatal: unable to open config file: stat /r/config: no such file or directory\nIs there "
     "a repository at the following location?", restic.NoRepositoryError),
    ("unable to create lock in backend: repository is already locked by PID 1",
     restic.RepositoryLockedError),
    ("Fatal: wrong password or no key found", restic.ResticError),
])
def test_restic_errors_are_translated_and_scrubbed(stderr: str, kind: type[Any]) -> None:
    repo = Repo("/r", {"RESTIC_PASSWORD": "hunter2-very-secret"})
    err = restic._error(repo, ["restic", "--repo", "/r", "backup"], 1,
                        stderr + " (password hunter2-very-secret)")
    assert isinstance(err, kind)
    assert "hunter2-very-secret" not in str(err) and "restic backup on /r" in str(err)


def test_repo_repr_hides_the_password() -> None:
    assert "s3cr3t" not in repr(Repo("/r", {"RESTIC_PASSWORD": "s3cr3t"}))


def test_controller_schedule_catches_up_once(tmp_path: Any) -> None:
    from stackwright.recover.records import Records, Run
    from stackwright.workloads.schedule import latest_due

    records = Records.open(f"sqlite:///{tmp_path / 'state.db'}", "p", "dev")
    try:
        start = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
        records.save(Run(kind="backup", name="shop", scheduled_for=start.isoformat(),
                         status="scheduled"))
        last = records.last_scheduled("backup", "shop")
        assert last == start.isoformat()
        # down for three hours of an hourly schedule: one run, for the latest time
        now = start + timedelta(hours=3, minutes=10)
        due = latest_due("0 * * * *", datetime.fromisoformat(last), now)
        assert due == start + timedelta(hours=3)
        records.save(Run(kind="backup", name="shop", scheduled_for=due.isoformat()))
        assert latest_due("0 * * * *", datetime.fromisoformat(
            str(records.last_scheduled("backup", "shop"))), now) is None
        assert [r.kind for r in records.list("backup", "shop")] == ["backup", "backup"]
    finally:
        records.close()


def test_wal_schedule_needs_pitr() -> None:
    base = {"repository": "main", "sources": {"databases": ["db"]}}
    assert PolicySpec.model_validate({**base, "postgres": "pitr",
                                      "walSchedule": "* * * * *"}).walSchedule == "* * * * *"
    with pytest.raises(ValidationError, match="needs postgres: pitr"):
        PolicySpec.model_validate({**base, "walSchedule": "* * * * *"})
    assert PolicySpec.model_validate(base).pauseWriters is True


def test_restore_latest_reads_which_snapshot_restic_restored() -> None:
    said = ("restoring <Snapshot 5b016d48 of [/var/lib/containers/storage/volumes/x/_data] at "
            "2026-12-03 11:42:14.056054634 +0000 UTC by root@sw-p-dev> to /tmp/t\n")
    short, when = restic.restored_snapshot(said)
    assert short == "5b016d48"
    assert restic_time(when) == datetime(2026, 12, 3, 11, 42, 14, 56054, tzinfo=UTC)
    east = restic.restored_snapshot(said.replace("+0000 UTC", "+0530 IST"))[1]
    assert restic_time(east).utcoffset() == timedelta(hours=5, minutes=30)
    with pytest.raises(restic.ResticError, match="did not say"):
        restic.restored_snapshot("nothing restored\n")


def test_service_check_urls_reach_the_host_loopback() -> None:
    from stackwright.recover.service_check import _scratch_env

    item = Restored("Database/db", "s1", "t", "scratch",
                    {"url": "postgresql://postgres:pw@127.0.0.1:5433/shop"})
    assert _scratch_env([item]) == {
        "SCRATCH_DB_URL": "postgresql://postgres:pw@10.0.2.2:5433/shop"}


def test_backups_controller_close_waits_for_the_run_in_progress() -> None:
    import threading

    from stackwright.recover.controller import BackupsController

    ctl = BackupsController({})
    started, release = threading.Event(), threading.Event()

    def run() -> str:  # a restic prune holding the repository's lock
        started.set()
        release.wait(30)
        return "done"

    ctl.active[("backup", "conf")] = ctl.pool.submit(run)
    queued = ctl.pool.submit(lambda: "never")  # behind it, not started yet
    assert started.wait(5)
    threading.Timer(0.2, release.set).start()
    ctl.close(timeout=20)
    assert ctl.active[("backup", "conf")].result(timeout=0) == "done"
    assert queued.cancelled()


def test_a_wal_snapshot_covers_a_base_backup_only_from_its_oldest_segment_on(
        tmp_path: Path) -> None:
    from stackwright.recover.pitr import covers, oldest_segment

    def wal(*tags: str) -> Snapshot:
        return Snapshot("w" * 8, "w" * 4, "2026-01-03T00:00:00Z", ("/x",), tags, "h")

    base = wal("sw-wal-start=000000010000000000000005")
    trimmed_before = wal("sw-wal-first=000000010000000000000005")
    trimmed_after = wal("sw-wal-first=000000010000000000000009")
    untagged = wal()
    assert covers(trimmed_before, base) and covers(untagged, base)
    assert not covers(trimmed_after, base)
    # a later timeline holds the same positions: names compare without it
    assert covers(wal("sw-wal-first=000000020000000000000004"), base)

    spool = tmp_path / "wal"
    spool.mkdir()
    for name in ("000000010000000000000007", "000000010000000000000006.00000028.backup",
                 "00000002.history", "000000020000000000000008", "000000010000000000000006"):
        (spool / name).write_text("")
    assert oldest_segment(spool) == "000000010000000000000006"
    assert oldest_segment(tmp_path / "missing") is None
