"""The state store: what Stackwright last recorded of every resource, per project and
environment (a *workspace*), with its writer lock, run history and the audit log.

One store holds one database connection; calls from many threads are serialised on it and
each write is its own committed transaction, so a result is durable once recorded.
SQLite (the default, ``sqlite:///<project>/.stackwright/state.db``) runs in WAL mode with
``synchronous=NORMAL``: a commit survives a crash of the process, and the database survives
a power loss (though the last commits before it may be lost). PostgreSQL is used by URL::

    store = StateStore.open("postgresql+psycopg://stackwright@db/stackwright", cipher=c)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from stackwright.core.model import Address, Recorded, Status
from stackwright.core.state import audit as audit_log
from stackwright.core.state import locks
from stackwright.core.state.codec import ResourceRow, RowDecoder, state_aad
from stackwright.core.state.crypto import Cipher, seal_tree
from stackwright.core.state.engine import BEGIN_KEY, connect, migrate
from stackwright.core.state.records import (
    AuditEntry,
    AuditEvent,
    AuditReport,
    LockInfo,
    RunRecord,
    Snapshot,
)
from stackwright.core.state.schema import runs
from stackwright.core.state.statements import Prepared, Statements
from stackwright.errors import LockError, StateError

__all__ = [
    "AuditEntry",
    "AuditEvent",
    "AuditReport",
    "LockInfo",
    "RunRecord",
    "Snapshot",
    "StateStore",
]

LOCK_POLL_SECONDS: Final = 0.05
RUNNING: Final = "running"


class StateStore:
    """Recorded resources, locks, history and audit log in one SQL database."""

    def __init__(self, engine: Engine, cipher: Cipher) -> None:
        self._engine = engine
        self._cipher = cipher
        self._mutex = threading.RLock()
        self._sql = Statements.build(engine.dialect)
        self._encode = json.JSONEncoder(separators=(",", ":"), default=_not_json).encode
        self._decoder = RowDecoder(cipher)
        self._conn: Connection | None = engine.connect()

    @classmethod
    def open(cls, url: str, *, cipher: Cipher) -> StateStore:
        """Open (creating the database and its directory if needed) and migrate to head."""
        engine = connect(url)
        try:
            migrate(engine)
            return cls(engine, cipher)
        except BaseException:
            engine.dispose()
            raise

    def close(self) -> None:
        with self._mutex:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
                self._engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self, *, write: bool) -> Iterator[Connection]:
        """One transaction on the store's connection; database errors become StateError."""
        with self._mutex:
            if self._conn is None:
                raise StateError("the state store is closed")
            conn = self._conn
            conn.info[BEGIN_KEY] = "BEGIN IMMEDIATE" if write else "BEGIN"
            try:
                with conn.begin():
                    yield conn
            except SQLAlchemyError as exc:
                raise StateError(f"state database error: {exc}") from exc

    # -- resources --------------------------------------------------------------------------

    def snapshot(self, project: str, env: str) -> Snapshot:
        """Every recorded resource of the workspace, sensitive values decrypted."""
        ws = {"p": project, "e": env}
        with self._tx(write=False) as conn:
            first = self._sql.generation.run(conn, ws).fetchone()
            rows = self._sql.resources_of.run(conn, ws).fetchall()
        generation = first[0] if first else 0
        names: dict[str, Address] = {}
        found = (self._decode(project, env, ResourceRow._make(row), names) for row in rows)
        return Snapshot(generation, {rec.address: rec for rec in found})

    def mark_started(
        self,
        project: str,
        env: str,
        address: Address,
        status: Status,
        *,
        serial: int,
        depends_on: tuple[Address, ...],
    ) -> None:
        """Note that an action on ``address`` started (CREATING/UPDATING/DELETING), keeping the
        prior id, inputs and outputs; a crash leaves this status for the next run to see."""
        if status is Status.READY:
            raise StateError("mark_started takes CREATING, UPDATING or DELETING; use record")
        row = {
            "project": project,
            "env": env,
            "address": str(address),
            "object_id": None,
            "status": status.value,
            "inputs": "{}",
            "outputs": "{}",
            "depends_on": self._encode([str(a) for a in depends_on]),
            "sensitive": "[]",
            "sensitive_outputs": "[]",
            "serial": serial,
        }
        with self._tx(write=True) as conn:
            self._sql.mark_started.run(conn, row)
            self._bump(conn, project, env, self._sql.bump_generation)

    def record(
        self,
        project: str,
        env: str,
        rec: Recorded,
        *,
        serial: int,
        audit: AuditEvent | None = None,
    ) -> None:
        """Record ``rec`` as READY (sensitive paths encrypted), with its audit entry, at once."""
        row = self._encode_row(project, env, rec, serial)
        with self._tx(write=True) as conn:
            self._sql.record.run(conn, row)
            self._bump(conn, project, env, self._sql.bump_generation)
            if audit is not None:
                audit_log.append(conn, audit)

    def remove(
        self,
        project: str,
        env: str,
        address: Address,
        *,
        serial: int,
        audit: AuditEvent | None = None,
    ) -> None:
        """Forget ``address``; it must be recorded (else StateError). ``serial`` is the run
        doing it, kept for symmetry with ``record`` (the row itself is gone)."""
        with self._tx(write=True) as conn:
            key = {"p": project, "e": env, "a": str(address)}
            if not self._sql.delete_resource.run(conn, key).rowcount:
                raise StateError(f"{address} is not in the state of {project}/{env}")
            self._bump(conn, project, env, self._sql.bump_generation)
            if audit is not None:
                audit_log.append(conn, audit)

    def move(self, project: str, env: str, src: Address, dst: Address) -> None:
        """``state mv``: rename ``src`` to ``dst``, re-sealing its secrets for the new address
        and pointing other resources' ``depends_on`` at the new name."""
        with self._tx(write=True) as conn:
            old = self._resource(conn, project, env, src)
            if old is None:
                raise StateError(f"{src} is not in the state of {project}/{env}")
            if self._resource(conn, project, env, dst) is not None:
                raise StateError(
                    f"{dst} is already in the state of {project}/{env}",
                    hint=f"remove it first with: stackwright state rm {dst}",
                )
            rec = self._decode(project, env, old)
            moved = replace(rec, address=dst)
            self._sql.delete_resource.run(conn, {"p": project, "e": env, "a": str(src)})
            row = self._encode_row(project, env, moved, rec.serial) | {"status": old.status}
            self._sql.record.run(conn, row)
            self._repoint(conn, project, env, src, dst)
            self._bump(conn, project, env, self._sql.bump_generation)

    def _repoint(
        self, conn: Connection, project: str, env: str, src: Address, dst: Address
    ) -> None:
        for found in self._sql.resources_of.run(conn, {"p": project, "e": env}).fetchall():
            row = ResourceRow._make(found)
            deps = json.loads(row.depends_on)
            if str(src) in deps:
                new = [str(dst) if d == str(src) else d for d in deps]
                self._sql.record.run(conn, row._asdict() | {"depends_on": self._encode(new)})

    def _resource(
        self, conn: Connection, project: str, env: str, address: Address
    ) -> ResourceRow | None:
        key = {"p": project, "e": env, "a": str(address)}
        found = self._sql.resource.run(conn, key).fetchone()
        return ResourceRow._make(found) if found else None

    def _bump(self, conn: Connection, project: str, env: str, stmt: Prepared) -> int:
        """Add one to a workspace counter (generation or last_serial) and return it."""
        ws = {"p": project, "e": env}
        found = stmt.run(conn, ws).fetchone()
        if found is None:
            self._sql.new_workspace.run(
                conn, {"project": project, "env": env, "generation": 0, "last_serial": 0}
            )
            found = stmt.run(conn, ws).fetchone()
        return int(found[0])

    def _aad(self, project: str, env: str, address: str, part: str) -> bytes:
        return state_aad(project, env, address, part)

    def _encode_row(self, project: str, env: str, rec: Recorded, serial: int) -> dict[str, Any]:
        address = str(rec.address)
        inputs, outputs = dict(rec.inputs), dict(rec.outputs)
        if rec.sensitive:
            inputs = seal_tree(
                inputs, rec.sensitive, self._cipher, self._aad(project, env, address, "inputs")
            )
        if rec.sensitive_outputs:
            outputs = seal_tree(
                outputs,
                rec.sensitive_outputs,
                self._cipher,
                self._aad(project, env, address, "outputs"),
            )
        return {
            "project": project,
            "env": env,
            "address": address,
            "object_id": rec.id,
            "status": Status.READY.value,
            "inputs": self._encode(inputs),
            "outputs": self._encode(outputs),
            "depends_on": self._encode([str(a) for a in rec.depends_on]),
            "sensitive": self._encode(sorted(rec.sensitive)),
            "sensitive_outputs": self._encode(sorted(rec.sensitive_outputs)),
            "serial": serial,
        }

    def _loads(self, text: str) -> Any:
        return self._decoder.loads(text)

    def _decode(
        self, project: str, env: str, row: ResourceRow, names: dict[str, Address] | None = None
    ) -> Recorded:
        return self._decoder.decode(project, env, row, names)

    # -- locks ------------------------------------------------------------------------------

    @contextmanager
    def lock(
        self,
        project: str,
        env: str,
        *,
        operation: str,
        timeout: float = 0.0,
        who: str | None = None,
    ) -> Iterator[LockInfo]:
        """Hold the workspace's writer lock for the ``with`` block.

        Waits up to ``timeout`` seconds for another holder, then raises LockError naming it.
        A lock left by a dead process on this host is taken over (``LockInfo.replaced``).
        """
        info = self._acquire(locks.new_lock(project, env, operation, who), timeout)
        try:
            yield info
        finally:
            with self._tx(write=True) as conn:
                locks.remove(conn, info)

    def relabel_lock(self, info: LockInfo, operation: str) -> None:
        """Say more of what the holder of ``info`` does (shown to those the lock refuses)."""
        with self._tx(write=True) as conn:
            locks.relabel(conn, info, operation)

    def _acquire(self, wanted: LockInfo, timeout: float) -> LockInfo:
        deadline = time.monotonic() + timeout
        while True:
            got, holder = self._try_lock(wanted)
            if got is not None:
                return got
            if holder is None:
                continue  # lost a race for a free lock: look again at once
            left = deadline - time.monotonic()
            if left <= 0:
                raise locks.held_error(holder)
            time.sleep(min(LOCK_POLL_SECONDS, left))

    def _try_lock(self, wanted: LockInfo) -> tuple[LockInfo | None, LockInfo | None]:
        """(the lock taken, None), (None, who holds it), or (None, None) when another writer
        took it between our read and our insert (PostgreSQL): look again."""
        with self._tx(write=True) as conn:
            holder = locks.current(conn, wanted.project, wanted.env)
            if holder is None:
                return (wanted, None) if locks.insert(conn, wanted) else (None, None)
            if locks.is_stale(holder) and locks.remove(conn, holder):
                taken = replace(wanted, replaced=holder)
                return (taken, None) if locks.insert(conn, taken) else (None, None)
            return None, holder

    def force_unlock(self, project: str, env: str, lock_id: str) -> LockInfo:
        """Remove the lock ``lock_id``; any other id (or no lock) is a LockError."""
        with self._tx(write=True) as conn:
            holder = locks.current(conn, project, env)
            if holder is None:
                raise LockError(f"{project}/{env} is not locked")
            if holder.id != lock_id:
                raise LockError(
                    f"{project}/{env} is locked with id {holder.id}, not {lock_id}",
                    hint=f"held by {holder.describe()}",
                )
            locks.remove(conn, holder)
            return holder

    def current_lock(self, project: str, env: str) -> LockInfo | None:
        with self._tx(write=False) as conn:
            return locks.current(conn, project, env)

    # -- history ----------------------------------------------------------------------------

    def begin_run(self, project: str, env: str, *, operation: str, actor: str) -> int:
        """Start a run in the history; returns its serial (1, 2, 3… per workspace)."""
        with self._tx(write=True) as conn:
            serial = self._bump(conn, project, env, self._sql.bump_serial)
            conn.execute(
                runs.insert().values(
                    project=project,
                    env=env,
                    serial=serial,
                    operation=operation,
                    actor=actor,
                    started_at=audit_log.now_iso(),
                    status=RUNNING,
                    summary="{}",
                )
            )
            return serial

    def finish_run(
        self, project: str, env: str, serial: int, *, status: str, summary: Mapping[str, Any]
    ) -> None:
        values = {
            "p": project,
            "e": env,
            "s": serial,
            "st": status,
            "fin": audit_log.now_iso(),
            "sum": self._encode(dict(summary)),
        }
        with self._tx(write=True) as conn:
            if not self._sql.finish_run.run(conn, values).rowcount:
                raise StateError(f"no run {serial} in the history of {project}/{env}")

    def history(self, project: str, env: str) -> list[RunRecord]:
        with self._tx(write=False) as conn:
            rows = conn.execute(
                select(runs)
                .where(runs.c.project == project, runs.c.env == env)
                .order_by(runs.c.serial)
            )
            return [
                RunRecord(
                    r.serial,
                    r.operation,
                    r.actor,
                    r.started_at,
                    r.finished_at,
                    r.status,
                    json.loads(r.summary),
                )
                for r in rows
            ]

    # -- audit ------------------------------------------------------------------------------

    def audit_append(self, event: AuditEvent) -> AuditEntry:
        """Append one entry. ``event.data`` must already be masked: it is stored in clear."""
        with self._tx(write=True) as conn:
            return audit_log.append(conn, event)

    def audit_entries(self, *, project: str | None = None) -> list[AuditEntry]:
        with self._tx(write=False) as conn:
            return audit_log.entries(conn, project)

    def audit_verify(self) -> AuditReport:
        """Recompute the hash chain: edited, deleted and truncated entries are problems."""
        with self._tx(write=False) as conn:
            chain = audit_log.entries(conn)
            last = audit_log.head(conn)
        return audit_log.verify(chain, last)


def _not_json(value: Any) -> Any:
    raise StateError(
        f"cannot store a {type(value).__name__} in the state",
        hint="recorded inputs and outputs must be plain JSON values, known after apply",
    )
