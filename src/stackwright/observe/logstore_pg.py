"""The log store in PostgreSQL, when the state is there (``postgresql://…``): the tables
``observe_logs`` and ``observe_log_offsets`` of the state database (migrated with the
domain's other tables), one project environment's rows per store.

The same contract as the SQLite store (:class:`~stackwright.observe.logstore.LogStore`):
lines and their file's offset are committed in one transaction (a restarted collector
resumes after the last line stored), and the same :class:`Query` answers the same lines.
``--grep`` is ``ILIKE '%text%'`` served by a GIN trigram index (``pg_trgm``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from stackwright.core.state.domains import migrate, open_domain_engine
from stackwright.observe.logstore import LEVELS, LogLine, Query
from stackwright.observe.schema import log_offsets, logs

_COLUMNS = ("id", "time", "service", "environment", "revision", "replica", "container",
            "stream", "level", "message", "trace_id", "fields")


def is_postgres(state_url: str) -> bool:
    return sa.make_url(state_url).get_backend_name() == "postgresql"


class PgLogStore:
    """One project environment's lines in the state database; safe to share between
    threads (each call takes a pooled connection)."""

    def __init__(self, state_url: str, project: str, environment: str) -> None:
        from stackwright.observe.notifications import MIGRATIONS, PREFIX

        self.engine = open_domain_engine(state_url)
        self.project = project
        self.environment = environment
        self._lock = threading.Lock()  # one writer: ids are committed in order
        migrate(self.engine, MIGRATIONS, PREFIX)

    def close(self) -> None:
        self.engine.dispose()

    def _mine(self, table: sa.Table) -> list[sa.ColumnElement[bool]]:
        return [table.c.project == self.project, table.c.environment == self.environment]

    def offsets(self) -> dict[str, tuple[int, int]]:
        """path -> (position, inode) of every file read so far."""
        t = log_offsets
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.path, t.c.position, t.c.inode)
                                .where(*self._mine(t))).all()
        return {p: (int(pos), int(ino)) for p, pos, ino in rows}

    def append(self, lines: Sequence[LogLine], path: str, container: str, position: int,
               inode: int) -> None:
        """Store ``lines`` and the offset after them, atomically."""
        key = {"project": self.project, "environment": self.environment}
        rows = [{**key, "time": ln.time, "service": ln.service, "revision": ln.revision,
                 "replica": ln.replica, "container": ln.container, "stream": ln.stream,
                 "level": ln.level, "message": ln.message, "trace_id": ln.trace_id,
                 "fields": ln.fields_json or (json.dumps(dict(ln.fields))
                                              if ln.fields else None)}
                for ln in lines]
        offset = insert(log_offsets).values(**key, path=path, container=container,
                                            position=position, inode=inode)
        offset = offset.on_conflict_do_update(
            index_elements=["project", "environment", "path"],
            set_={"position": offset.excluded.position, "inode": offset.excluded.inode,
                  "container": offset.excluded.container})
        with self._lock, self.engine.begin() as conn:
            if rows:
                conn.execute(logs.insert(), rows)
            conn.execute(offset)

    def forget_offsets(self, keep: set[str]) -> None:
        t = log_offsets
        with self.engine.begin() as conn:
            conn.execute(t.delete().where(*self._mine(t), t.c.path.not_in(keep)))

    def query(self, q: Query) -> list[dict[str, Any]]:
        """Matching lines in the order they were stored."""
        t = logs
        order = t.c.id.desc() if q.newest else t.c.id.asc()
        stmt = (sa.select(*(t.c[c] for c in _COLUMNS)).where(*self._mine(t), *_filters(q))
                .order_by(order).limit(q.limit))
        with self.engine.connect() as conn:
            rows = [_row(dict(r._mapping)) for r in conn.execute(stmt)]
        return rows[::-1] if q.newest else rows

    def prune(self, *, older_than: float | None = None, max_lines: int | None = None) -> int:
        """Retention: drop lines older than a time, then the oldest beyond a count."""
        t = logs
        with self._lock, self.engine.begin() as conn:
            cutoff = 0
            if older_than is not None:
                cutoff = conn.execute(sa.select(sa.func.max(t.c.id)).where(
                    *self._mine(t), t.c.time < older_than)).scalar() or 0
            if max_lines is not None:
                kept = conn.execute(sa.select(t.c.id).where(*self._mine(t))
                                    .order_by(t.c.id.desc()).offset(max_lines).limit(1)
                                    ).scalar()
                cutoff = max(cutoff, kept or 0)
            if not cutoff:
                return 0
            gone = conn.execute(t.delete().where(*self._mine(t), t.c.id <= cutoff)).rowcount
        return int(gone)

    def count(self) -> int:
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(sa.func.count()).select_from(logs)
                                 .where(*self._mine(logs))).scalar()
        return int(found or 0)


def _filters(q: Query) -> list[sa.ColumnElement[bool]]:
    t = logs
    where: list[sa.ColumnElement[bool]] = [t.c.id > q.after_id]
    if q.service:
        where.append(t.c.service == q.service)
    if q.revision:
        where.append(t.c.revision == q.revision)
    if q.since is not None:
        where.append(t.c.time >= q.since)
    if q.until is not None:
        where.append(t.c.time <= q.until)
    if q.level:
        where.append(t.c.level.in_(LEVELS[LEVELS.index(q.level):]))
    if q.grep:
        pattern = q.grep.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(t.c.message.ilike(f"%{pattern}%", escape="\\"))
    return where


def _row(row: dict[str, Any]) -> dict[str, Any]:
    row["fields"] = json.loads(row["fields"]) if row.get("fields") else {}
    return row
