"""The writer lock of a workspace: one row per (project, env) in ``locks``.

Taking a lock is an INSERT that the primary key lets only one writer win. A lock whose
process died on this host is stale and is taken over; locks from other hosts are never
judged stale here (``stackwright force-unlock`` exists for them).
"""

from __future__ import annotations

import getpass
import os
import socket
import uuid
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from stackwright.core.state.audit import now_iso
from stackwright.core.state.engine import dialect_insert
from stackwright.core.state.records import LockInfo
from stackwright.core.state.schema import locks
from stackwright.errors import LockError


def new_lock(project: str, env: str, operation: str, who: str | None) -> LockInfo:
    host = socket.gethostname()
    return LockInfo(
        id=uuid.uuid4().hex,
        project=project,
        env=env,
        holder=f"{who or _user()}@{host}",
        pid=os.getpid(),
        host=host,
        operation=operation,
        created_at=now_iso(),
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


def current(conn: Connection, project: str, env: str) -> LockInfo | None:
    row = conn.execute(select(locks).where(locks.c.project == project, locks.c.env == env)).first()
    return _info(row) if row else None


def insert(conn: Connection, info: LockInfo) -> bool:
    """Take the lock; False when another writer got there first."""
    stmt = dialect_insert(conn.dialect.name)(locks).values(
        project=info.project,
        env=info.env,
        lock_id=info.id,
        holder=info.holder,
        pid=info.pid,
        host=info.host,
        operation=info.operation,
        created_at=info.created_at,
    )
    return bool(conn.execute(stmt.on_conflict_do_nothing()).rowcount)


def remove(conn: Connection, info: LockInfo) -> bool:
    """Delete exactly this lock (by id); False when it was no longer there."""
    result = conn.execute(
        delete(locks).where(
            locks.c.project == info.project, locks.c.env == info.env, locks.c.lock_id == info.id
        )
    )
    return bool(result.rowcount)


def relabel(conn: Connection, info: LockInfo, operation: str) -> None:
    conn.execute(update(locks).where(locks.c.project == info.project, locks.c.env == info.env,
                                     locks.c.lock_id == info.id).values(operation=operation))


def is_stale(info: LockInfo) -> bool:
    """Held by a process of this host that no longer exists."""
    if info.host != socket.gethostname() or info.pid <= 0:
        return False
    try:
        os.kill(info.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, owned by someone else
    return False


def held_error(holder: LockInfo) -> LockError:
    return LockError(
        f"{holder.project}/{holder.env} is locked by {holder.describe()}",
        hint=f"wait for it to finish; if that run is gone: stackwright force-unlock {holder.id}",
    )


def _info(row: Any) -> LockInfo:
    return LockInfo(
        id=row.lock_id,
        project=row.project,
        env=row.env,
        holder=row.holder,
        pid=row.pid,
        host=row.host,
        operation=row.operation,
        created_at=row.created_at,
    )

