"""Point-in-time recovery of a managed Database: rows written, a base backup with archived
WAL, more rows, more backups (each trims the WAL spool); a restore to a time between the
first two sets of rows brings back exactly the first ones (and a restore to the latest, all
of them)."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import UTC, datetime

import pytest
from tests.integration.recover.conftest import (
    CACHE_DIR,
    RecoverProject,
    needs_podman,
    needs_restic,
)
from tests.integration.recover.test_backup_data import recorded, sql

pytestmark = [
    pytest.mark.slow, needs_restic, needs_podman,
    pytest.mark.skipif(os.environ.get("STACKWRIGHT_TEST_DEBOOTSTRAP") == "0",
                       reason="STACKWRIGHT_TEST_DEBOOTSTRAP=0: the data image cannot be built"),
]

SPEC = """
apiVersion: stackwright.dev/v1
kind: Database
metadata: {name: db}
spec:
  database: shop
  user: app
  deleteData: true
  settings:
    archive_mode: "on"
    archive_command: "test ! -f /data/wal/%f && cp %p /data/wal/%f"
---
apiVersion: stackwright.dev/v1
kind: BackupRepository
metadata: {name: main}
spec: {path: backups/repo}
---
apiVersion: stackwright.dev/v1
kind: BackupPolicy
metadata: {name: shop}
spec:
  repository: main
  sources: {databases: [db]}
  postgres: pitr
"""
DRILL = """---
apiVersion: stackwright.dev/v1
kind: RestoreDrill
metadata: {name: shop-drill}
spec:
  policy: shop
  checks: {sql: [{query: "SELECT count(*) FROM orders", expect: [[5]]}]}
"""


def scratch_rows(item: dict[str, str]) -> list[tuple[int, ...]]:
    dsn = f"host={item['socket']} port={item['port']} user=postgres dbname=shop"
    return sql(dsn, "SELECT id FROM orders ORDER BY id")


def test_restore_to_a_time_between_two_sets_of_rows(recover_project: RecoverProject,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    rp = recover_project
    rp.write("main.yaml", SPEC)
    rp.run("apply", "--yes", timeout=900)
    db = recorded(rp, monkeypatch)["Database/db"]
    sql(db["url"], "CREATE TABLE orders (id int PRIMARY KEY)")
    sql(db["url"], "INSERT INTO orders VALUES (1), (2), (3)")
    first = rp.json("backup", "run", "shop")
    assert first["ok"], first
    assert {s["source"] for s in first["snapshots"]} == {"Database/db"}
    assert len(first["snapshots"]) == 2  # the base backup and the WAL archive
    sql(db["url"], "INSERT INTO orders VALUES (10)")  # only in the WAL after the first base,
    switch_wal(db["container"])  # in a segment older than the second base: trimmed by it
    time.sleep(1.5)
    between = datetime.now(UTC).isoformat()
    time.sleep(1.5)
    sql(db["url"], "INSERT INTO orders VALUES (4), (5)")
    kept = spool(db["container"])
    assert rp.json("backup", "run", "shop")["ok"]
    sql(db["url"], "INSERT INTO orders VALUES (6)")
    assert rp.json("backup", "run", "shop")["ok"]
    # each run trims the spool to its base backup's start: the first run's segments are gone
    trimmed = spool(db["container"])
    assert trimmed and min(kept) not in trimmed and min(trimmed) > min(kept), (kept, trimmed)

    # the newest WAL snapshot no longer holds what the first base needs: an older one does
    at = rp.json("backup", "restore", "shop", "--at", between)
    item = at["restored"][0]
    assert item["recoveryTarget"] == between
    assert scratch_rows(item) == [(1,), (2,), (3,), (10,)]
    rp.run("backup", "discard", at["id"])

    latest = rp.json("backup", "restore", "shop")
    assert scratch_rows(latest["restored"][0]) == [(n,) for n in (*range(1, 7), 10)]
    rp.run("backup", "discard", latest["id"])
    assert len(sql(db["url"], "SELECT * FROM orders")) == 7
    rp.assert_password_nowhere()


def spool(container: str) -> list[str]:
    """The WAL segments in the database's archive directory."""
    done = subprocess.run(["podman", "exec", container, "ls", "/data/wal"],
                          capture_output=True, text=True, timeout=60, check=True)
    return sorted(n for n in done.stdout.split() if len(n) == 24)


def switch_wal(container: str) -> str:
    done = subprocess.run(["podman", "exec", "--user", "postgres", container, "sh", "-c",
                           'PATH="$(ls -d /usr/lib/postgresql/*/bin | tail -n 1):$PATH"; '
                           'psql -X -At -d postgres -c "SELECT pg_walfile_name(pg_switch_wal())"'],
                          capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.strip()


def test_wal_shipped_between_backups_restores_the_newest_rows(
        recover_project: RecoverProject, monkeypatch: pytest.MonkeyPatch) -> None:
    """The controller ships the WAL spool on walSchedule: rows written after the last backup
    come back from a restore once their segment is shipped, and the drill's RPO is the age
    of that segment, not of the backup."""
    from tests.integration.recover.test_backup_controller import host, wait_for

    from stackwright.recover.records import Records
    from stackwright.recover.restore import restic_time

    rp = recover_project
    rp.write("stackwright.yaml", f"""
        project: {rp.name}
        environments: {{dev: {{}}}}
        settings:
          images: {{cacheDir: {CACHE_DIR}}}
          controllers:
            backups: {{interval: 0.3}}
            services: {{enabled: false}}
            loadbalancers: {{enabled: false}}
            cronjobs: {{enabled: false}}
            secrets: {{enabled: false}}
            databases: {{enabled: false}}
    """)
    rp.write("main.yaml", SPEC + '  walSchedule: "* * * * * */2"\n' + DRILL)
    rp.run("apply", "--yes", timeout=900)
    db = recorded(rp, monkeypatch)["Database/db"]
    sql(db["url"], "CREATE TABLE orders (id int PRIMARY KEY)")
    sql(db["url"], "INSERT INTO orders VALUES (1), (2), (3)")
    assert rp.json("backup", "run", "shop")["ok"]
    sql(db["url"], "INSERT INTO orders VALUES (4), (5)")
    segment = switch_wal(db["container"])  # archive_command copies it to the spool

    ctl, engine, _ = host(rp, monkeypatch)
    recs = Records.open(f"sqlite:///{rp.root / '.stackwright' / 'state.db'}", rp.name, "dev")
    try:
        def shipped() -> bool:
            return any(s["segment"] >= segment for r in recs.list("wal", "shop")
                       if r.status == "succeeded" for s in r.details.get("shipped", []))

        assert wait_for(shipped, 180), [(r.status, r.reason, r.details)
                                        for r in recs.list("wal", "shop")]
    finally:
        ctl.shutdown(60)
        recs.close()
        engine.close()
    backups = [r for r in rp.json("backup", "list", "shop")["snapshots"] if r["type"] == "wal"]
    assert len(backups) >= 2  # the backup's and at least one shipped

    latest = rp.json("backup", "restore", "shop")
    assert scratch_rows(latest["restored"][0]) == [(n,) for n in range(1, 6)]
    rp.run("backup", "discard", latest["id"])
    drill = rp.json("drill", "run", "shop-drill")
    assert drill["status"] == "succeeded", drill
    base = next(r for r in rp.json("backup", "list", "shop")["snapshots"]
                if r["type"] == "basebackup")
    backup_age = (datetime.now(UTC) - restic_time(base["time"])).total_seconds()
    assert drill["rpo"] < backup_age  # newer than the base backup: the shipped segment's age
    rp.assert_password_nowhere()
