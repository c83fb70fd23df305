"""Point-in-time recovery of a managed Database: rows written, a base backup with archived
WAL, more rows, another backup; a restore to a time between the two sets of rows brings
back exactly the first ones (and a restore to the latest, all of them)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import pytest
from tests.integration.recover.conftest import RecoverProject, needs_podman, needs_restic
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
    time.sleep(1.5)
    between = datetime.now(UTC).isoformat()
    time.sleep(1.5)
    sql(db["url"], "INSERT INTO orders VALUES (4), (5)")
    assert rp.json("backup", "run", "shop")["ok"]

    at = rp.json("backup", "restore", "shop", "--at", between)
    item = at["restored"][0]
    assert item["recoveryTarget"] == between
    assert scratch_rows(item) == [(1,), (2,), (3,)]
    rp.run("backup", "discard", at["id"])

    latest = rp.json("backup", "restore", "shop")
    assert scratch_rows(latest["restored"][0]) == [(n,) for n in range(1, 6)]
    rp.run("backup", "discard", latest["id"])
    assert len(sql(db["url"], "SELECT * FROM orders")) == 5
    rp.assert_password_nowhere()
