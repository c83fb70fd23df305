"""The KV write's statements run on SQLite's driver directly, compiled once by SQLAlchemy.

A KV write runs four statements (its key's metadata row, the new version, the pruned old
one, the metadata update) inside the group commit's transaction. Through ``Connection.execute``
each costs SQLAlchemy's execution context, result set-up and cursor bookkeeping, several
times what SQLite spends on it: profiled at one client, the statements were most of a
write's CPU outside its fsyncs. Here a statement is compiled once per set of parameter
names (the same SQL SQLAlchemy would send) and run on the transaction's own DB-API
connection, so nothing changes about what is stored or when it commits. Other databases
(PostgreSQL) go through ``Connection.execute`` as before. Driver errors are raised as
SQLAlchemy's (an ``IntegrityError`` stays one).
"""

from __future__ import annotations

import sqlite3
import threading
from collections import namedtuple
from collections.abc import Mapping
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError


class _Compiled(NamedTuple):
    sql: str
    names: tuple[str, ...]  # the parameters, in the order of the ``?`` placeholders
    columns: tuple[str, ...]  # a SELECT's result columns


_CACHE: dict[tuple[int, frozenset[str]], _Compiled] = {}
_CACHE_LOCK = threading.Lock()


def _compiled(conn: Connection, statement: sa.Executable, keys: frozenset[str]) -> _Compiled:
    cache_key = (id(statement), keys)
    found = _CACHE.get(cache_key)
    if found is not None:
        return found
    compiled = statement.compile(dialect=conn.dialect, column_keys=sorted(keys))  # type: ignore[attr-defined]
    columns = tuple(c.key for c in getattr(statement, "selected_columns", ()))
    found = _Compiled(str(compiled), tuple(compiled.positiontup or ()), columns)
    with _CACHE_LOCK:
        _CACHE[cache_key] = found
    return found


def execute(conn: Connection, statement: sa.Executable, params: Mapping[str, Any]) -> None:
    """Run an INSERT, UPDATE or DELETE (a statement built once, at import)."""
    if conn.dialect.name != "sqlite":
        conn.execute(statement, dict(params))
        return
    _run(conn, _compiled(conn, statement, frozenset(params)), params)


def first(conn: Connection, statement: sa.Select[Any], params: Mapping[str, Any]) -> Any:
    """The first row of a SELECT, with its columns as attributes (None if there is none)."""
    if conn.dialect.name != "sqlite":
        return conn.execute(statement, dict(params)).first()
    compiled = _compiled(conn, statement, frozenset(params))
    row = _run(conn, compiled, params).fetchone()
    return None if row is None else _row_type(compiled.columns)(*row)


def _run(conn: Connection, compiled: _Compiled, params: Mapping[str, Any]) -> sqlite3.Cursor:
    driver: sqlite3.Connection = conn.connection.driver_connection  # type: ignore[assignment]
    args = [params[name] for name in compiled.names]
    try:
        return driver.execute(compiled.sql, args)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(compiled.sql, args, exc, sqlite3.Error) from exc


_ROW_TYPES: dict[tuple[str, ...], type[Any]] = {}


def _row_type(columns: tuple[str, ...]) -> type[Any]:
    found = _ROW_TYPES.get(columns)
    if found is None:
        found = _ROW_TYPES[columns] = namedtuple("RawRow", columns)
    return found
