"""Both log stores answer the same queries the same way: SQLite (FTS5) and PostgreSQL
(trigram index), the latter on a real server started by the session fixture. grep, level,
revision, since/until, follow (``after_id``), retention, and resuming after a restart
without losing or repeating a line."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stackwright.observe.logcollect import Source, collect_once, read_records
from stackwright.observe.logstore import LogStore, Query

Opener = Callable[[], Any]
SOURCE = Source("sw-p-dev-web-r1-1", "", "web", "r1", "1")


def _rec(n: int, text: str, stream: str = "stdout") -> str:
    return f"2026-12-03T09:00:{n:02d}.123456789+00:00 {stream} F {text}\n"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres,
                                                                 pytest.mark.slow])])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the store again each call (as a restarted daemon would)."""
    opened: list[Any] = []

    def sqlite() -> Any:
        opened.append(LogStore(tmp_path / "logs.db"))
        return opened[-1]

    def postgres() -> Any:
        from stackwright.observe.logstore_pg import PgLogStore

        opened.append(PgLogStore(url, "logs-pg-t1", "dev"))
        return opened[-1]

    if request.param == "postgres":
        url = request.getfixturevalue("fresh_postgres_url")
    yield postgres if request.param == "postgres" else sqlite
    for store in opened:
        store.close()


def _fill(store: Any) -> None:
    data = "".join([_rec(1, "GET /cart 200"), _rec(2, '{"level":"error","msg":"Timeout '
                    'talking to db_1 (50%)"}'), _rec(3, "warn: slow"), _rec(4, "GET /cart 500")])
    store.append(read_records(SOURCE, "dev", data.encode(), 0).lines, "/f", "c", 1, 1)


def _messages(rows: list[dict[str, Any]]) -> list[str]:
    return [r["message"] for r in rows]


def test_grep_level_revision_and_time(opener: Opener) -> None:
    store = opener()
    _fill(store)
    assert _messages(store.query(Query(grep="cart"))) == ["GET /cart 200", "GET /cart 500"]
    assert _messages(store.query(Query(grep="TIMEOUT"))) == ["Timeout talking to db_1 (50%)"]
    assert _messages(store.query(Query(grep="b_1 (50%"))) == ["Timeout talking to db_1 (50%)"]
    assert store.query(Query(grep="b%1")) == []  # % and _ are text, not wildcards
    assert len(store.query(Query(grep="00"))) == 2
    assert [r["level"] for r in store.query(Query(level="warn"))] == ["error", "warn"]
    assert store.query(Query(revision="r2")) == []
    assert len(store.query(Query(revision="r1", service="web"))) == 4
    first = store.query(Query())[0]
    assert first["fields"] == {} and first["stream"] == "stdout" and first["replica"] == "1"
    t0 = first["time"]
    assert len(store.query(Query(since=t0 + 1.5, until=t0 + 2.5))) == 1
    assert _messages(store.query(Query(limit=1))) == ["GET /cart 500"]
    [error] = store.query(Query(level="error"))
    assert error["fields"]["level"] == "error"


def test_follow_gives_only_the_lines_after_an_id(opener: Opener) -> None:
    store = opener()
    _fill(store)
    last = store.query(Query())[-1]["id"]
    assert store.query(Query(after_id=last, newest=False)) == []
    store.append(read_records(SOURCE, "dev", _rec(5, "GET /pay 200").encode(), 0).lines,
                 "/f", "c", 2, 1)
    assert _messages(store.query(Query(after_id=last, newest=False))) == ["GET /pay 200"]
    assert _messages(store.query(Query(after_id=last, newest=False, grep="cart"))) == []


def test_retention_by_age_and_count(opener: Opener) -> None:
    store = opener()
    data = "".join(_rec(i, f"line {i}") for i in range(10)).encode()
    store.append(read_records(SOURCE, "dev", data, 0).lines, "/f", "c", 1, 1)
    t0 = store.query(Query(limit=1, newest=False))[0]["time"]
    assert store.prune(older_than=t0 + 2.5) == 3
    assert store.prune(max_lines=4) == 3
    assert _messages(store.query(Query())) == [f"line {i}" for i in range(6, 10)]
    assert store.query(Query(grep="line 3")) == [] and store.count() == 4


def test_collection_resumes_after_a_restart(opener: Opener, tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    log.write_text(_rec(1, "one") + _rec(2, "two"))
    source = Source("c1", str(log), "web", "r1", "1")
    store = opener()
    assert collect_once(store, [source], "dev") == 2
    with log.open("a") as f:
        f.write(_rec(3, "three") + "2026-12-03T09:00:04.0+00:00 stdout F fo")
    store.close()
    store = opener()  # a restarted daemon
    assert collect_once(store, [source], "dev") == 1
    with log.open("a") as f:
        f.write("ur\n")
    assert collect_once(store, [source], "dev") == 1
    assert collect_once(store, [source], "dev") == 0
    store.close()
    store = opener()
    assert collect_once(store, [source], "dev") == 0
    assert _messages(store.query(Query())) == ["one", "two", "three", "four"]
    store.forget_offsets(set())
    assert store.offsets() == {}


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_stores_keep_projects_apart(fresh_postgres_url: str) -> None:
    from stackwright.observe.logstore_pg import PgLogStore

    mine = PgLogStore(fresh_postgres_url, "logs-pg-t2", "dev")
    other = PgLogStore(fresh_postgres_url, "logs-pg-t3", "dev")
    try:
        _fill(mine)
        assert other.query(Query()) == [] and other.offsets() == {}
        assert other.prune(max_lines=0) == 0 and mine.count() == 4
    finally:
        mine.close()
        other.close()


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_grep_uses_the_trigram_index(fresh_postgres_url: str) -> None:
    import sqlalchemy as sa

    from stackwright.observe.logstore_pg import PgLogStore

    store = PgLogStore(fresh_postgres_url, "logs-pg-t4", "dev")
    try:
        with store.engine.connect() as conn:
            indexes = {r[0] for r in conn.execute(sa.text(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'observe_logs'"))}
        assert "observe_logs_message_trgm" in indexes
    finally:
        store.close()
