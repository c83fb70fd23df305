"""Group commit of the store's writes: one transaction for every writer waiting, each change
rolled back alone when it fails, nothing stored when the commit fails, no writer released
before its commit; and KV writes from 16 threads through it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from stackwright.core.state.domains import open_domain_engine
from stackwright.secrets.errors import AuditWriteError, InvalidRequestError
from stackwright.secrets.groupcommit import GroupCommit, audit_first
from stackwright.secrets.store import SecretsStore

WRITERS = 16


def _engine(tmp_path: Path, *, foreign_keys: bool = False) -> Engine:
    engine = open_domain_engine(f"sqlite:///{tmp_path / 'gc.db'}")
    if foreign_keys:

        def on(dbapi_connection: Any, _record: object) -> None:
            dbapi_connection.execute("PRAGMA foreign_keys=ON")

        event.listen(engine, "connect", on)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE p (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql(
            "CREATE TABLE t (k INTEGER PRIMARY KEY, "
            "p INTEGER REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED)"
        )
    return engine


def _insert(k: int, parent: int | None = None) -> Callable[[Connection], int]:
    def apply(conn: Connection) -> int:
        conn.execute(sa.text("INSERT INTO t (k, p) VALUES (:k, :p)"), {"k": k, "p": parent})
        return k

    return apply


def _keys(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT k FROM t ORDER BY k")).scalars())


def _wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


class _Writers:
    """Writers in threads, each with its change; what each got back or raised."""

    def __init__(self, commits: GroupCommit) -> None:
        self.commits = commits
        self.results: dict[int, Any] = {}
        self.threads: list[threading.Thread] = []

    def start(self, n: int, apply: Callable[[Connection], Any], ticket: int = 0, **kw: Any) -> None:
        def run() -> None:
            try:
                with audit_first(ticket):  # as the API sets it around a KV handler
                    self.results[n] = self.commits.run(apply, **kw)
            except Exception as exc:
                self.results[n] = exc

        thread = threading.Thread(target=run)
        self.threads.append(thread)
        thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in self.threads)


def _hold_the_lead(commits: GroupCommit, writers: _Writers) -> threading.Event:
    """Writer 0 leads a commit whose change waits for the returned event."""
    release, entered = threading.Event(), threading.Event()

    def slow(conn: Connection) -> int:
        entered.set()
        release.wait(60)
        return _insert(0)(conn)

    writers.start(0, slow)
    assert entered.wait(60)
    return release


def test_writers_waiting_during_a_commit_share_the_next_one(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    commits = GroupCommit(engine)
    writers = _Writers(commits)
    release = _hold_the_lead(commits, writers)
    for n in range(1, WRITERS):
        writers.start(n, _insert(n))
    _wait_for(lambda: commits.queued == WRITERS - 1)
    assert _keys(engine) == []  # nobody released, nothing committed while the lead holds
    assert not writers.results
    release.set()
    writers.join()
    assert writers.results == {n: n for n in range(WRITERS)}
    assert _keys(engine) == list(range(WRITERS))
    assert (commits.commits, commits.changes) == (2, WRITERS)  # 1, then the other 15 at once


def test_a_failing_change_is_rolled_back_alone(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    after: list[int] = []
    commits = GroupCommit(engine)
    writers = _Writers(commits)
    release = _hold_the_lead(commits, writers)

    def half_then_fail(conn: Connection) -> None:
        _insert(100)(conn)
        raise InvalidRequestError("check-and-set parameter did not match the current version")

    writers.start(1, _insert(1), after=lambda: after.append(1))
    writers.start(2, half_then_fail, after=lambda: after.append(2))
    writers.start(3, _insert(1))  # the same key as writer 1: IntegrityError, alone
    writers.start(4, _insert(4), after=lambda: after.append(4))
    _wait_for(lambda: commits.queued == 4)
    release.set()
    writers.join()
    assert _keys(engine) == [0, 1, 4]  # writer 2's first insert went with its savepoint
    assert isinstance(writers.results[2], InvalidRequestError)
    assert isinstance(writers.results[3], IntegrityError)
    assert (writers.results[1], writers.results[4]) == (1, 4)
    assert sorted(after) == [1, 4]  # ``after`` runs only for changes that were stored
    assert commits.commits == 2


def test_a_failed_commit_stores_nothing_and_fails_every_writer(tmp_path: Path) -> None:
    engine = _engine(tmp_path, foreign_keys=True)
    rolled_back: list[bool] = []
    commits = GroupCommit(engine, on_rollback=lambda: rolled_back.append(True))
    writers = _Writers(commits)
    release = _hold_the_lead(commits, writers)
    for n in range(1, 6):
        writers.start(n, _insert(n))
    writers.start(6, _insert(6, parent=999))  # no parent 999: refused only at COMMIT
    _wait_for(lambda: commits.queued == 6)
    release.set()
    writers.join()
    assert writers.results[0] == 0  # the first transaction committed on its own
    failed = [writers.results[n] for n in range(1, 7)]
    assert all(isinstance(r, IntegrityError) for r in failed), failed
    assert _keys(engine) == [0]
    assert rolled_back == [True]
    commits.run(_insert(7))  # the next commit works again
    assert _keys(engine) == [0, 7]


def test_a_writer_alone_commits_at_once(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    commits = GroupCommit(engine)
    assert [commits.run(_insert(n)) for n in range(3)] == [0, 1, 2]
    assert (commits.commits, commits.changes) == (3, 3)


def test_a_change_alone_runs_without_a_savepoint(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    commits = GroupCommit(engine)
    commits.run(_insert(1))
    assert not [s for s in statements if "SAVEPOINT" in s.upper()], statements
    assert _keys(engine) == [1]


def test_a_failing_change_alone_is_rolled_back_with_its_transaction(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    rolled_back: list[bool] = []
    after: list[int] = []
    commits = GroupCommit(engine, on_rollback=lambda: rolled_back.append(True))

    def half_then_fail(conn: Connection) -> None:
        _insert(100)(conn)
        raise InvalidRequestError("check-and-set parameter did not match the current version")

    with pytest.raises(InvalidRequestError, match="check-and-set"):
        commits.run(half_then_fail, after=lambda: after.append(1))
    assert _keys(engine) == []  # its first insert went with the transaction
    assert (rolled_back, after, commits.commits) == ([True], [], 0)
    assert commits.run(_insert(2)) == 2  # the next commit works
    assert _keys(engine) == [2]


def test_kv_writes_from_16_threads_are_all_stored_with_their_versions(
    store: SecretsStore,
) -> None:
    per_writer = 5
    errors: list[BaseException] = []
    versions: dict[tuple[int, int], int] = {}

    def writer(n: int) -> None:
        try:
            for i in range(per_writer):
                written = store.kv.write("secret", "shared", {"n": n, "i": i})
                versions[(n, i)] = written.meta.version
                store.kv.write("secret", f"own/{n}", {"i": i})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert sorted(versions.values()) == list(range(1, WRITERS * per_writer + 1))  # no gap, no twin
    last = max(versions, key=lambda k: versions[k])
    assert store.kv.read("secret", "shared").data == {"n": last[0], "i": last[1]}
    for n in range(WRITERS):
        own = store.kv.read("secret", f"own/{n}")
        assert (own.meta.version, own.data) == (per_writer, {"i": per_writer - 1})


def test_kv_check_and_set_under_16_writers_lets_exactly_one_win(store: SecretsStore) -> None:
    store.kv.write("secret", "cas", {"v": 0})
    outcomes: list[object] = []
    gate = threading.Barrier(WRITERS)

    def writer(n: int) -> None:
        gate.wait(60)
        try:
            outcomes.append(store.kv.write("secret", "cas", {"v": n}, cas=1).meta.version)
        except InvalidRequestError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert outcomes.count(2) == 1
    assert len(outcomes) == WRITERS
    assert all("check-and-set" in str(o) for o in outcomes if o != 2)
    assert store.kv.read("secret", "cas").meta.version == 2


def test_after_runs_before_the_writer_is_released(tmp_path: Path) -> None:
    n = 1
    engine = _engine(tmp_path)
    commits = GroupCommit(engine)
    seen: list[list[int]] = []
    commits.run(_insert(n), after=lambda: seen.append(_keys(engine)))
    assert seen == [[n]]  # committed when ``after`` ran, and it ran before ``run`` returned


def test_audit_lines_are_made_durable_once_before_the_commit(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    synced: list[tuple[int, list[int]]] = []
    commits = GroupCommit(engine, before_commit=lambda t: synced.append((t, _keys(engine))))
    writers = _Writers(commits)
    release = _hold_the_lead(commits, writers)

    for n, ticket in ((1, 7), (2, 9), (3, 0)):
        writers.start(n, _insert(n), ticket=ticket)
    _wait_for(lambda: commits.queued == 3)
    release.set()
    writers.join()
    # one sync for the batch of three, with its highest ticket, while nothing of it was
    # committed yet (the first commit, without a ticket, needed none)
    assert synced == [(9, [0])]
    assert _keys(engine) == [0, 1, 2, 3]


def test_a_failed_audit_sync_before_the_commit_stores_nothing(tmp_path: Path) -> None:
    engine = _engine(tmp_path)

    def fail(_ticket: int) -> None:
        raise AuditWriteError("cannot sync the audit file: No space left on device")

    commits = GroupCommit(engine, before_commit=fail)
    with audit_first(3), pytest.raises(AuditWriteError):
        commits.run(_insert(1))
    assert _keys(engine) == []
    assert commits.run(_insert(2)) == 2  # no ticket: nothing to sync, commits
    assert _keys(engine) == [2]
