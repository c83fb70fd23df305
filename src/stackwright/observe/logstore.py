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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY, time REAL NOT NULL, service TEXT NOT NULL,
    environment TEXT NOT NULL, revision TEXT NOT NULL, replica TEXT NOT NULL,
    container TEXT NOT NULL, stream TEXT NOT NULL, level TEXT, message TEXT NOT NULL,
    trace_id TEXT, fields TEXT);
CREATE INDEX IF NOT EXISTS logs_by_service_time ON logs (service, time);
CREATE INDEX IF NOT EXISTS logs_by_time ON logs (time);
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


@dataclass(frozen=True)
class LogLine:
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
    fields: Mapping[str, Any] = field(default_factory=dict)


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
        cur = self.db.cursor()
        for ln in lines:
            cur.execute("INSERT INTO logs (time, service, environment, revision, replica, "
                        "container, stream, level, message, trace_id, fields) VALUES "
                        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (ln.time, ln.service, ln.environment, ln.revision, ln.replica,
                         ln.container, ln.stream, ln.level, ln.message, ln.trace_id,
                         json.dumps(dict(ln.fields)) if ln.fields else None))
            cur.execute("INSERT INTO logs_fts (rowid, message) VALUES (?, ?)",
                        (cur.lastrowid, ln.message))

    def forget_offsets(self, keep: set[str]) -> None:
        with self._lock:
            for (path,) in self.db.execute("SELECT path FROM offsets").fetchall():
                if path not in keep:
                    self.db.execute("DELETE FROM offsets WHERE path = ?", (path,))

    def query(self, q: Query) -> list[dict[str, Any]]:
        """Matching lines in the order they were stored."""
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
        source = "logs"
        if q.grep and len(q.grep) >= 3:
            source = "logs JOIN logs_fts ON logs_fts.rowid = logs.id"
            where.append("logs_fts MATCH ?")
            args.append('"' + q.grep.replace('"', '""') + '"')
        elif q.grep:
            where.append("instr(lower(logs.message), lower(?)) > 0")
            args.append(q.grep)
        order = "DESC" if q.newest else "ASC"
        sql = (f"SELECT logs.* FROM {source} WHERE {' AND '.join(where)} "
               f"ORDER BY logs.id {order} LIMIT ?")
        with self._lock:
            cur = self.db.execute(sql, (*args, q.limit))
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        found = [_row(dict(zip(names, r, strict=True))) for r in rows]
        return found[::-1] if q.newest else found

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


def _row(row: dict[str, Any]) -> dict[str, Any]:
    row["fields"] = json.loads(row["fields"]) if row.get("fields") else {}
    return row
