"""The audit log: an append-only, hash-chained table plus a head record.

Each entry's hash is sha256 over the canonical JSON of (seq, time, actor, action, project,
env, data, prev_hash); ``prev_hash`` is the hash of the entry before (64 zeros for the
first). ``audit_head`` keeps the last seq and hash, so deleting the newest entries shows too.
Entry data is stored in clear: callers mask sensitive values before passing them in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from stackwright.core.state.records import AuditEntry, AuditEvent, AuditReport
from stackwright.core.state.schema import audit_head, audit_log
from stackwright.core.values import canonical_json

GENESIS: Final = "0" * 64
HEAD_ID: Final = 1


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def entry_hash(
    seq: int, time: str, event: AuditEvent | AuditEntry, data: Any, prev_hash: str
) -> str:
    body = {
        "seq": seq,
        "time": time,
        "actor": event.actor,
        "action": event.action,
        "project": event.project,
        "env": event.env,
        "data": data,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def append(conn: Connection, event: AuditEvent) -> AuditEntry:
    """Append inside the caller's transaction (which must be a writing one)."""
    head_query = select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == HEAD_ID)
    if conn.dialect.name == "postgresql":
        head_query = head_query.with_for_update()
    head = conn.execute(head_query).first()
    seq, prev = (head.seq + 1, head.hash) if head else (1, GENESIS)
    data = json.loads(canonical_json(dict(event.data)))
    time = now_iso()
    digest = entry_hash(seq, time, event, data, prev)
    conn.execute(
        audit_log.insert().values(
            seq=seq,
            time=time,
            actor=event.actor,
            action=event.action,
            project=event.project,
            env=event.env,
            data=canonical_json(data),
            prev_hash=prev,
            hash=digest,
        )
    )
    if head is None:
        conn.execute(audit_head.insert().values(id=HEAD_ID, seq=seq, hash=digest))
    else:
        conn.execute(
            update(audit_head).where(audit_head.c.id == HEAD_ID).values(seq=seq, hash=digest)
        )
    return AuditEntry(
        seq, time, event.actor, event.action, event.project, event.env, data, prev, digest
    )


def entries(conn: Connection, project: str | None = None) -> list[AuditEntry]:
    query = select(audit_log).order_by(audit_log.c.seq)
    if project is not None:
        query = query.where(audit_log.c.project == project)
    return [_entry(row) for row in conn.execute(query)]


def head(conn: Connection) -> tuple[int, str] | None:
    row = conn.execute(
        select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == HEAD_ID)
    ).first()
    return (row.seq, row.hash) if row else None


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        row.seq,
        row.time,
        row.actor,
        row.action,
        row.project,
        row.env,
        json.loads(row.data),
        row.prev_hash,
        row.hash,
    )


def verify(chain: Iterable[AuditEntry], last: tuple[int, str] | None) -> AuditReport:
    """Recompute the chain and compare it with the head record."""
    problems: list[str] = []
    expected_seq, prev_hash, count = 1, GENESIS, 0
    for entry in chain:
        count += 1
        problems.extend(_check_link(entry, expected_seq, prev_hash))
        if entry_hash(entry.seq, entry.time, entry, entry.data, entry.prev_hash) != entry.hash:
            problems.append(f"entry {entry.seq}: hash mismatch, the entry was edited")
        expected_seq, prev_hash = entry.seq + 1, entry.hash
    problems.extend(_check_head(last, expected_seq - 1, prev_hash))
    return AuditReport(ok=not problems, entries=count, problems=problems)


def _check_link(entry: AuditEntry, expected_seq: int, prev_hash: str) -> list[str]:
    found: list[str] = []
    if entry.seq > expected_seq:
        found.append(_missing(expected_seq, entry.seq - 1, "deleted"))
    elif entry.seq < expected_seq:
        found.append(f"entry {entry.seq}: out of order after entry {expected_seq - 1}")
    if entry.prev_hash != prev_hash:
        found.append(
            f"entry {entry.seq}: prev_hash does not match the entry before it "
            f"(entry {expected_seq - 1} deleted or edited)"
        )
    return found


def _check_head(last: tuple[int, str] | None, last_seq: int, last_hash: str) -> list[str]:
    if last is None:
        return [f"audit head record missing, log ends at entry {last_seq}"] if last_seq else []
    head_seq, head_hash = last
    if head_seq > last_seq:
        return [_missing(last_seq + 1, head_seq, "deleted from the end of the log")]
    if head_seq < last_seq:
        return [f"entries after {head_seq} up to {last_seq} are not in the head record"]
    if head_hash != last_hash:
        return [f"entry {last_seq}: hash differs from the head record, the entry was edited"]
    return []


def _missing(first: int, last: int, how: str) -> str:
    span = f"entry {first}" if first == last else f"entries {first}-{last}"
    return f"{span} missing ({how})"
