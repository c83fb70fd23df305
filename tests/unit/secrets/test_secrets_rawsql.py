"""The KV write's statements on SQLite's driver: the same SQL SQLAlchemy sends, the same rows,
and the driver's errors raised as SQLAlchemy's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from stackwright.secrets import kv2, rawsql
from stackwright.secrets.db import create_secrets_engine, migrate
from stackwright.secrets.store import SecretsStore


def _version(version: int) -> dict[str, Any]:
    return {"mount": "secret", "path": "a", "version": version, "created_us": 1,
            "deletion_us": None, "destroyed": False, "value_ct": b"\x00ct"}


def _engine(tmp_path: Path) -> sa.Engine:
    engine = create_secrets_engine(f"sqlite:///{tmp_path / 'raw.db'}")
    migrate(engine)
    return engine


def test_statements_send_what_sqlalchemy_sends(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    sent: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    with engine.begin() as conn:
        conn.execute(kv2._INSERT_VERSION, _version(1))
        by_sqlalchemy = sent.pop()
        rawsql.execute(conn, kv2._INSERT_VERSION, _version(2))
        assert not sent  # the driver's cursor, not SQLAlchemy's execution
        count = conn.execute(sa.text("SELECT count(*) FROM secrets_kv_versions")).scalar()
    assert by_sqlalchemy == rawsql._compiled(conn, kv2._INSERT_VERSION, frozenset(_version(2))).sql
    assert count == 2


def test_a_row_reads_as_sqlalchemy_reads_it(store: SecretsStore) -> None:
    store.kv.write("secret", "app/db", {"password": "s3cret"})
    params = {"k_mount": "secret", "k_path": "app/db"}
    with store.engine.connect() as conn:
        expected = conn.execute(kv2._META, params).first()
        raw = rawsql.first(conn, kv2._META, params)
        missing = rawsql.first(conn, kv2._META, params | {"k_path": "nope"})
    assert expected is not None and raw is not None
    assert tuple(raw) == tuple(expected)
    assert (raw.current_version, raw.path) == (1, "app/db")
    assert missing is None


def test_driver_errors_are_raised_as_sqlalchemy_errors(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    with engine.begin() as conn:
        rawsql.execute(conn, kv2._INSERT_VERSION, _version(1))
        with pytest.raises(IntegrityError):  # KvStore.write turns it into a CAS mismatch
            rawsql.execute(conn, kv2._INSERT_VERSION, _version(1))
