"""The log store: SQLite with an FTS5 trigram index (``--grep`` finds any substring of three
characters or more through the index; shorter ones scan), in
``.stackwright/observe/<env>/logs.db``.

Lines and the read offset of the file they came from are committed in one transaction, so
a collector that stops anywhere resumes exactly after the last line it stored: nothing is
lost and nothing is stored twice.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

_SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY, time REAL NOT NULL, service TEXT NOT NULL,
    environment TEXT NOT NULL, revision TEXT NOT NULL, replica TEXT NOT NULL,
    container TEXT NOT NULL, stream TEXT NOT NULL, level TEXT, message TEXT NOT NULL,
    trace_id TEXT, fields TEXT);
CREATE INDEX IF NOT EXISTS logs_by_service_time ON logs (service, time);
CREATE VIRTUAL TABLE IF NOT EXISTS logs_fts USING fts5(
    message, content='logs', content_rowid='id', tokenize='trigram');
CREATE TABLE IF NOT EXISTS offsets (
    path TEXT PRIMARY KEY, container TEXT NOT NULL, position INTEGER NOT NULL,
    inode INTEGER NOT NULL);
"""
LEVELS = ("trace", "debug", "info", "warn", "error", "fatal")
_LEVEL_ALIASES = {"warning": "warn", "err": "error", "critical": "fatal", "crit": "fatal",
                  "panic": "fatal", "notice": "info", "information": "info"}
_PLAIN_LEVEL = re.compile(r"^\W{0,2}(trace|debug|info|warn(?:ing)?|error|err|fatal|critical)"
                          r"\b", re.IGNORECASE)


class LogLine(NamedTuple):
    """One stored line. (A named tuple, not a frozen dataclass: the collector makes one per
    line, and a frozen dataclass took more time to build than the line took to parse.)"""

    time: float
    service: str
    environment: str
    revision: str
    replica: str
    container: str
    stream: str
    message: str
    level: str | None = None
    trace_id: str | None = None
    fields: Mapping[str, Any] = MappingProxyType({})
    fields_json: str | None = None  # the JSON line itself, stored as it was written


def normal_level(text: Any) -> str | None:
    if not isinstance(text, str) or not text:
        return None
    low = text.strip().lower()
    low = _LEVEL_ALIASES.get(low, low)
    return low if low in LEVELS else None


def parse_message(text: str) -> tuple[str, str | None, str | None, dict[str, Any]]:
    """(message, level, trace id, fields) of one line: a JSON object's fields are kept, its
    message/msg, level/severity and trace_id/traceId read; a plain line's level is a
    leading ``ERROR``/``[warn]``."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(stripped)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            message = doc.get("message", doc.get("msg", stripped))
            level = normal_level(doc.get("level", doc.get("severity", doc.get("lvl"))))
            trace = doc.get("trace_id", doc.get("traceId", doc.get("trace")))
            return str(message), level, str(trace) if trace else None, doc
    match = _PLAIN_LEVEL.match(stripped)
    return text, normal_level(match.group(1)) if match else None, None, {}


@dataclass(frozen=True)
class Query:
    service: str | None = None
    since: float | None = None
    until: float | None = None
    grep: str | None = None
    level: str | None = None  # this level and above
    revision: str | None = None
    after_id: int = 0
    limit: int = 1000
    newest: bool = True  # the newest ``limit`` lines (else the oldest after ``after_id``)


class LogStore:
    """One environment's log database; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=10000")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def offsets(self) -> dict[str, tuple[int, int]]:
        """path -> (position, inode) of every file read so far."""
        with self._lock:
            rows = self.db.execute("SELECT path, position, inode FROM offsets").fetchall()
        return {p: (pos, ino) for p, pos, ino in rows}

    def append(self, lines: Sequence[LogLine], path: str, container: str, position: int,
               inode: int) -> None:
        """Store ``lines`` and the offset after them, atomically."""
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self._insert(lines)
                self.db.execute("INSERT INTO offsets VALUES (?, ?, ?, ?) ON CONFLICT(path) "
                                "DO UPDATE SET position=excluded.position, "
                                "inode=excluded.inode", (path, container, position, inode))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def _insert(self, lines: Iterable[LogLine]) -> None:
        rows = [(ln.time, ln.service, ln.environment, ln.revision, ln.replica, ln.container,
                 ln.stream, ln.level, ln.message, ln.trace_id,
                 ln.fields_json or (json.dumps(dict(ln.fields)) if ln.fields else None))
                for ln in lines]
        if not rows:
            return
        last = self.db.execute("SELECT coalesce(max(id), 0) FROM logs").fetchone()[0]
        self.db.executemany("INSERT INTO logs (time, service, environment, revision, replica, "
                            "container, stream, level, message, trace_id, fields) VALUES "
                            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self.db.execute("INSERT INTO logs_fts (rowid, message) SELECT id, message FROM logs "
                        "WHERE id > ?", (last,))

    def forget_offsets(self, keep: set[str]) -> None:
        with self._lock:
            for (path,) in self.db.execute("SELECT path FROM offsets").fetchall():
                if path not in keep:
                    self.db.execute("DELETE FROM offsets WHERE path = ?", (path,))

    def query(self, q: Query) -> list[dict[str, Any]]:
        """Matching lines in the order they were stored."""
        where, args = _filters(q)
        order = "DESC" if q.newest else "ASC"
        if q.grep and len(q.grep) >= 3:
            rows = self._grep_pages(q, where, args, order)
        else:
            if q.grep:
                where.append("instr(lower(logs.message), lower(?)) > 0")
                args.append(q.grep)
            rows = self._select(f"{' AND '.join(where)} ORDER BY logs.id {order} LIMIT ?",
                                [*args, q.limit])
        return rows[::-1] if q.newest else rows

    def _grep_pages(self, q: Query, where: list[str], args: list[Any],
                    order: str) -> list[dict[str, Any]]:
        """Walk the index's matches page by page, newest (or oldest) first, keeping those the
        other filters accept: a common term stops after one page, a rare one is found in
        the index alone."""
        phrase = '"' + q.grep.replace('"', '""') + '"' if q.grep else ""
        found: list[dict[str, Any]] = []
        page = max(q.limit, 1000)
        bound = None
        while len(found) < q.limit:
            cond = "" if bound is None else (" AND rowid < ?" if order == "DESC"
                                             else " AND rowid > ?")
            with self._lock:
                ids = [r[0] for r in self.db.execute(
                    f"SELECT rowid FROM logs_fts WHERE logs_fts MATCH ? AND rowid > ?{cond} "
                    f"ORDER BY rowid {order} LIMIT ?",
                    (phrase, q.after_id, *([bound] if bound is not None else []), page))]
            if not ids:
                break
            marks = ", ".join("?" * len(ids))
            found += self._select(
                f"{' AND '.join([*where, f'logs.id IN ({marks})'])} ORDER BY logs.id {order} "
                f"LIMIT ?", [*args, *ids, q.limit - len(found)])
            bound = ids[-1]
            if len(ids) < page:
                break
        return found

    def _select(self, condition: str, args: list[Any]) -> list[dict[str, Any]]:
        with self._lock:
            cur = self.db.execute(f"SELECT logs.* FROM logs WHERE {condition}", args)
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        return [_row(dict(zip(names, r, strict=True))) for r in rows]

    def prune(self, *, older_than: float | None = None, max_lines: int | None = None) -> int:
        """Retention: drop lines older than a time, then the oldest beyond a count."""
        with self._lock:
            cutoff = 0
            if older_than is not None:
                row = self.db.execute("SELECT max(id) FROM logs WHERE time < ?",
                                      (older_than,)).fetchone()
                cutoff = row[0] or 0
            if max_lines is not None:
                row = self.db.execute("SELECT id FROM logs ORDER BY id DESC LIMIT 1 OFFSET ?",
                                      (max_lines,)).fetchone()
                cutoff = max(cutoff, row[0] if row else 0)
            if not cutoff:
                return 0
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT INTO logs_fts (logs_fts, rowid, message) SELECT 'delete', "
                            "id, message FROM logs WHERE id <= ?", (cutoff,))
            gone = self.db.execute("DELETE FROM logs WHERE id <= ?", (cutoff,)).rowcount
            self.db.execute("COMMIT")
            return int(gone)

    def count(self) -> int:
        with self._lock:
            return int(self.db.execute("SELECT count(*) FROM logs").fetchone()[0])


def _filters(q: Query) -> tuple[list[str], list[Any]]:
    where: list[str] = ["logs.id > ?"]
    args: list[Any] = [q.after_id]
    for column, value in (("service", q.service), ("revision", q.revision)):
        if value:
            where.append(f"logs.{column} = ?")
            args.append(value)
    if q.since is not None:
        where.append("logs.time >= ?")
        args.append(q.since)
    if q.until is not None:
        where.append("logs.time <= ?")
        args.append(q.until)
    if q.level:
        wanted = LEVELS[LEVELS.index(q.level):]
        where.append(f"logs.level IN ({', '.join('?' * len(wanted))})")
        args.extend(wanted)
    return where, args


def _row(row: dict[str, Any]) -> dict[str, Any]:
    row["fields"] = json.loads(row["fields"]) if row.get("fields") else {}
    return row
