"""Group commit for the store's writes: one transaction, one commit, for every write waiting.

A KV write's commit is an fsync of SQLite's write-ahead log (``synchronous=FULL``); with one
commit per write, concurrent writers queue on the disk one after the other. Here a writer
hands its change (a function of the connection) to :meth:`GroupCommit.run` and blocks. The
first writer to find no commit running leads: it takes every change queued at that moment,
runs them one after the other in one transaction, each in its own savepoint (a change that
fails, a check-and-set mismatch, is rolled back alone and its error raised in its own
writer; a change alone in its transaction needs none: the transaction is rolled back
instead), commits once and releases them all. Writers that arrive during a commit queue for
the next one. No writer returns before the commit that holds its change: a 2xx is only ever
sent for a change on disk, as with one commit per write.

If the commit itself fails, every change of that transaction fails with the error and none
is stored. A writer alone leads at once and never waits for anybody.

A change made inside :func:`audit_first` carries an audit ticket: the leader makes every
ticket of its transaction durable (``before_commit``, the audit log's sync) after running
the changes and before committing them, so no change is stored before its request's audit
line is on disk, and one audit fsync serves the whole transaction. If that fails, the
transaction is rolled back and every change of it fails.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Connection, Engine

T = TypeVar("T")

_NOT_RUN = object()
_AUDIT_FIRST: ContextVar[int] = ContextVar("stackwright_secrets_audit_first", default=0)


@contextmanager
def audit_first(ticket: int) -> Iterator[None]:
    """Changes committed in this block (in this thread) are committed only once the audit
    line ``ticket`` is durable (0: no condition)."""
    token = _AUDIT_FIRST.set(ticket)
    try:
        yield
    finally:
        _AUDIT_FIRST.reset(token)


@dataclass
class _Change(Generic[T]):
    apply: Callable[[Connection], T]
    after: Callable[[], None] | None  # run after the commit, before the writer is released
    ticket: int  # an audit line that must be durable before the commit (0: none)
    result: Any = _NOT_RUN
    error: BaseException | None = None
    done: bool = False
    _event: threading.Event = field(default_factory=threading.Event)


class GroupCommit:
    """Commits the changes of concurrent writers together (see the module's docstring)."""

    def __init__(
        self,
        engine: Engine,
        on_rollback: Callable[[], None] | None = None,
        before_commit: Callable[[int], None] | None = None,
    ) -> None:
        self._engine = engine
        self._on_rollback = on_rollback  # e.g. drop caches a rolled-back change filled
        self._before_commit = before_commit  # makes audit tickets durable (see audit_first)
        self._lock = threading.Lock()
        self._queue: list[_Change[Any]] = []
        self._leading = False
        self.commits = 0  # for tests and benchmarks: how many transactions committed
        self.changes = 0  # and how many changes they held

    @property
    def queued(self) -> int:
        """Changes waiting for the next commit (for tests)."""
        with self._lock:
            return len(self._queue)

    def run(self, apply: Callable[[Connection], T], after: Callable[[], None] | None = None) -> T:
        """Apply ``apply(conn)`` in a transaction shared with the writers waiting now; return
        its result once committed (``after`` runs after the commit, e.g. dropping cached
        rows). Raises what ``apply`` raised, or the commit's error."""
        change: _Change[T] = _Change(apply, after, _AUDIT_FIRST.get())
        with self._lock:
            self._queue.append(change)
        while not change.done:
            batch = self._take_lead()
            if batch:
                self._commit(batch)
            elif not change.done:
                change._event.wait(0.05)  # woken by the leader; the timeout re-checks the lead
                change._event.clear()  # ``done`` is set before the event: it is not missed
        if change.error is not None:
            raise change.error
        result: T = change.result
        return result

    def _take_lead(self) -> list[_Change[Any]]:
        """Every queued change, if no one leads now (the caller then leads); else []."""
        with self._lock:
            if self._leading or not self._queue:
                return []
            self._leading = True
            batch, self._queue = self._queue, []
            return batch

    def _commit(self, batch: list[_Change[Any]]) -> None:
        try:
            self._transaction(batch)
        finally:
            with self._lock:
                self._leading = False
                waiting = list(self._queue)
            for change in batch:
                if change.error is None and change.result is _NOT_RUN:  # the leader was stopped
                    change.error = RuntimeError("the commit was interrupted")
                change.done = True
                change._event.set()
            for change in waiting[:1]:  # the next leader, if anyone queued meanwhile
                change._event.set()

    def _transaction(self, batch: list[_Change[Any]]) -> None:
        try:
            with self._engine.begin() as conn:
                if conn.dialect.name == "sqlite":
                    # pysqlite opens its transaction only at the first INSERT/UPDATE/DELETE; a
                    # SAVEPOINT before it would start (and its RELEASE commit) one of its own.
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                if len(batch) == 1:
                    _apply_alone(conn, batch[0])
                else:
                    for change in batch:
                        _apply(conn, change)
                self._audit_first(batch)
        except _Alone:  # the only change failed: rolled back with its transaction
            if self._on_rollback is not None:
                self._on_rollback()
            return
        except Exception as exc:  # the commit failed: nothing of the batch is stored
            if self._on_rollback is not None:
                self._on_rollback()
            for change in batch:
                if change.error is None:
                    change.error = exc
                    change.result = _NOT_RUN
            return
        self.commits += 1
        self.changes += len(batch)
        for change in batch:
            if change.error is None and change.after is not None:
                _after(change)

    def _audit_first(self, batch: list[_Change[Any]]) -> None:
        """Make the audit lines of the changes about to commit durable (raises if not)."""
        ticket = max((c.ticket for c in batch if c.error is None), default=0)
        if ticket and self._before_commit is not None:
            self._before_commit(ticket)


class _Alone(Exception):
    """Rolls back the transaction of a lone change that failed (its error is recorded)."""


def _apply_alone(conn: Connection, change: _Change[Any]) -> None:
    """A change alone in its transaction needs no savepoint (two statements fewer): if it
    fails, the whole transaction is rolled back, which holds nothing else."""
    try:
        change.result = change.apply(conn)
    except Exception as exc:
        change.error = exc
        raise _Alone() from exc


def _apply(conn: Connection, change: _Change[Any]) -> None:
    savepoint = conn.begin_nested()
    try:
        change.result = change.apply(conn)
    except Exception as exc:
        savepoint.rollback()
        change.error = exc
        return
    savepoint.commit()


def _after(change: _Change[Any]) -> None:
    assert change.after is not None
    try:
        change.after()
    except Exception as exc:  # the change is stored; its writer learns what failed after
        change.error = exc
