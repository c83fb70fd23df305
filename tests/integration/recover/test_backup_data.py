"""Database (pg_dump) and Cache (BGSAVE + RDB) backups of managed instances on podman:
restore to a time between two sets of rows brings back exactly the first rows (into a
scratch PostgreSQL, then in place after a safety backup); drills record RTO and RPO, and a
drill whose check fails is reported failed, with the reason, and alerts."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.integration.recover.conftest import RecoverProject, needs_podman, needs_restic

from stackwright.core.engine import Engine
from stackwright.recover import resp

pytestmark = [
    pytest.mark.slow, needs_restic, needs_podman,
    pytest.mark.skipif(os.environ.get("STACKWRIGHT_TEST_DEBOOTSTRAP") == "0",
                       reason="STACKWRIGHT_TEST_DEBOOTSTRAP=0: the data image cannot be built"),
]
APPLY_TIMEOUT = 900  # the first run on a machine builds the data image

SPEC = """
apiVersion: stackwright.dev/v1
kind: Database
metadata: {name: db}
spec: {database: shop, user: app, deleteData: true}
---
apiVersion: stackwright.dev/v1
kind: Cache
metadata: {name: cache}
spec: {deleteData: true}
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
  sources: {databases: [db], caches: [cache]}
  objectives: {rpo: 1h, rto: 10m}
---
apiVersion: stackwright.dev/v1
kind: RestoreDrill
metadata: {name: shop-drill}
spec:
  policy: shop
  checks:
    sql:
      - {query: "SELECT count(*) FROM orders", expect: [[5]]}
      - {query: "SELECT item FROM orders WHERE id = 1", expect: [[apple]]}
    redis:
      - {command: [GET, greeting], expect: hello}
    command: [sh, -c, 'test -n "$SCRATCH_DB_URL" && test -n "$SCRATCH_CACHE_URL"']
---
apiVersion: stackwright.dev/v1
kind: RestoreDrill
metadata: {name: wrong-count}
spec:
  policy: shop
  checks:
    sql:
      - {query: "SELECT count(*) FROM orders", expect: [[99]]}
"""


def recorded(rp: RecoverProject, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("STACKWRIGHT_KEY_DIR", rp.p.env["STACKWRIGHT_KEY_DIR"])
    engine = Engine(rp.root)
    try:
        return {str(a): dict(r.outputs) for a, r in engine.snapshot().resources.items()}
    finally:
        engine.close()


def sql(url: str, statement: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, connect_timeout=10, autocommit=True) as conn:
        cur = conn.execute(statement.encode())
        return cur.fetchall() if cur.description else []


def test_database_and_cache_backup_restore_and_drills(recover_project: RecoverProject,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    rp = recover_project
    rp.write("main.yaml", SPEC)
    rp.run("apply", "--yes", timeout=APPLY_TIMEOUT)
    out = recorded(rp, monkeypatch)
    db, cache = out["Database/db"], out["Cache/cache"]
    sql(db["url"], "CREATE TABLE orders (id int PRIMARY KEY, item text)")
    sql(db["url"], "INSERT INTO orders VALUES (1, 'apple'), (2, 'pear'), (3, 'fig')")
    assert resp.call("127.0.0.1", cache["port"], cache["password"],
                     ["SET", "greeting", "hello"]) == "OK"
    first = rp.json("backup", "run", "shop")
    assert first["ok"], first
    time.sleep(1.1)  # restic's snapshot times must fall on either side of --at
    sql(db["url"], "INSERT INTO orders VALUES (4, 'kiwi'), (5, 'plum')")
    resp.call("127.0.0.1", cache["port"], cache["password"], ["SET", "later", "yes"])
    second = rp.json("backup", "run", "shop")
    assert second["ok"]

    # scratch, at a time between the two backups: exactly the first rows, the live db as is
    restored = rp.json("backup", "restore", "shop", "--at", first["finished_at"])
    item = next(r for r in restored["restored"] if r["source"] == "Database/db")
    assert item["port"] != db["port"]
    scratch = f"host={item['socket']} port={item['port']} user=postgres dbname=shop"
    assert sql(scratch, "SELECT id, item FROM orders ORDER BY id") == [
        (1, "apple"), (2, "pear"), (3, "fig")]
    assert sql(scratch, "SELECT tableowner FROM pg_tables WHERE tablename = 'orders'") == [
        ("app",)]
    redis_item = next(r for r in restored["restored"] if r["source"] == "Cache/cache")
    scratch_pw = Path(redis_item["passwordFile"]).read_text().strip()
    assert resp.call("127.0.0.1", redis_item["port"], scratch_pw, ["GET", "greeting"]) == "hello"
    assert resp.call("127.0.0.1", redis_item["port"], scratch_pw, ["GET", "later"]) is None
    assert len(sql(db["url"], "SELECT * FROM orders")) == 5
    rp.run("backup", "discard", restored["id"])
    assert not Path(item["socket"]).exists()

    # drills: the newest backup verifies; a wrong expectation fails with the reason
    drill = rp.json("drill", "run", "shop-drill")
    assert drill["ok"] and drill["status"] == "succeeded", drill
    assert 0 < drill["rto"] < 600 and 0 < drill["rpo"] < 3600 and drill["checks"] == 4
    bad = rp.json("drill", "run", "wrong-count", ok=False)
    assert not bad["ok"] and bad["status"] == "failed"
    assert "returned [[5]], expected [[99]]" in bad["reason"]
    history = rp.json("drill", "history")["runs"]
    assert [(r["name"], r["status"]) for r in history] == [
        ("wrong-count", "failed"), ("shop-drill", "succeeded")]
    text = rp.run("drill", "history", "shop-drill").out
    assert "shop-drill" in text and "succeeded" in text and "rto 10m" in text

    # in place to the first backup: exactly the first rows; the safety backup has all five
    done = rp.json("backup", "restore", "shop", "--snapshot", first["id"], "--target",
                   "in-place", "--yes", "--source", "Database/db")
    assert done["safety_run"]
    assert sql(db["url"], "SELECT id FROM orders ORDER BY id") == [(1,), (2,), (3,)]
    undo = rp.json("backup", "restore", "shop", "--snapshot", done["safety_run"], "--target",
                   "in-place", "--yes", "--source", "Database/db")
    assert undo["ok"]
    assert sql(db["url"], "SELECT id FROM orders ORDER BY id") == [(n,) for n in range(1, 6)]
    listed = rp.json("backup", "list", "shop")["snapshots"]
    assert sum(1 for r in listed if r["safety"]) == 4  # a database and a cache, twice
    rp.assert_password_nowhere()
    for value in (db["password"], cache["password"]):
        assert all(value not in text for text in rp.seen)
