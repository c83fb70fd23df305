"""``stackwright logs`` and ``GET /api/v1/observe/logs``: one query, two front ends."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from stackwright.durations import period
from stackwright.errors import StackwrightError
from stackwright.observe.logstore import LEVELS, LogStore, Query
from stackwright.observe.paths import ObservePaths

if TYPE_CHECKING:
    from stackwright.core.engine import Engine
    from stackwright.observe.logstore_pg import PgLogStore

AnyLogStore: TypeAlias = "LogStore | PgLogStore"


def log_db(project_dir: Path, environment: str) -> Path:
    return ObservePaths.of(project_dir, environment).root / "logs.db"


def point_in_time(text: str | None, flag: str) -> float | None:
    """``10m`` (ago) or an ISO time (``2026-12-03T09:00:00Z``) as epoch seconds."""
    if text is None:
        return None
    try:
        return time.time() - period(text).total_seconds()
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise StackwrightError(f"{flag} {text!r} is neither a period nor a time",
                               hint=f"{flag} 10m, {flag} 2h or {flag} 2026-12-03T09:00:00Z"
                               ) from None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


def make_query(service: str | None, *, since: str | None = None, until: str | None = None,
               grep: str | None = None, level: str | None = None,
               revision: str | None = None, limit: int = 1000) -> Query:
    if level is not None and level not in LEVELS:
        raise StackwrightError(f"unknown level {level!r}", hint=f"one of {', '.join(LEVELS)}")
    return Query(service=service, since=point_in_time(since, "--since"),
                 until=point_in_time(until, "--until"), grep=grep, level=level,
                 revision=revision, limit=limit)


def store_for(engine: Engine, *, create: bool = False) -> AnyLogStore:
    """The log store of the engine's project environment: in the state database when that
    is PostgreSQL, else ``logs.db`` (which must exist unless ``create``)."""
    from stackwright.observe.logstore_pg import PgLogStore, is_postgres

    if is_postgres(engine.state_url):
        return PgLogStore(engine.state_url, engine.name, engine.environment)
    path = log_db(engine.root, engine.environment)
    if not create and not path.exists():
        raise StackwrightError("no logs collected yet for this environment",
                               hint="the daemon collects them: `stackwright up`")
    return LogStore(path)


def render_line(row: dict[str, Any]) -> str:
    when = datetime.fromtimestamp(row["time"], UTC).isoformat(timespec="milliseconds")
    who = f"{row['service']}/{row['revision'] or '-'}/{row['replica'] or '-'}"
    level = f" {row['level'].upper()}" if row.get("level") else ""
    err = " !" if row["stream"] == "stderr" else ""
    return f"{when} {who}{err}{level} {row['message']}"


async def follow_events(engine: Engine, query: Query, after_id: int,
                        disconnected: Callable[[], Awaitable[bool]],
                        poll: float = 0.5, heartbeat: float = 15.0) -> AsyncIterator[str]:
    """Server-sent events of the lines matching ``query`` stored after ``after_id`` (from
    0: the newest ``query.limit`` first, as ``logs -f`` does), until the client goes away;
    a comment every ``heartbeat`` seconds keeps proxies from closing
    an idle stream."""
    import asyncio
    import json
    from dataclasses import replace

    from starlette.concurrency import run_in_threadpool

    store = await run_in_threadpool(store_for, engine, create=True)
    last, quiet = after_id, 0.0
    try:
        yield "retry: 1000\n\n"
        step = query if last == 0 else replace(query, after_id=last, newest=False)
        while not await disconnected():
            batch = await run_in_threadpool(store.query, step)
            for row in batch:
                yield f"id: {row['id']}\nevent: line\ndata: {json.dumps(row)}\n\n"
                last = int(row["id"])
            step = replace(query, after_id=last, newest=False, limit=1000)
            quiet = 0.0 if batch else quiet + poll
            if quiet >= heartbeat:
                quiet = 0.0
                yield ": keep-alive\n\n"
            await asyncio.sleep(poll)
    finally:
        store.close()
