"""The audit trail: every request and response, hash-chained, with secrets HMAC'd.

Each entry records ``seq``, ``prev_hash`` and ``hash = sha256(canonical entry without hash)``,
so an edit, a removal or a reordering breaks the chain and :func:`verify_audit_file` finds
the first broken line. Strings in request and response data, tokens and accessors are
replaced by ``hmac-sha256:<hex>`` with the store's audit HMAC key (``redacted`` while sealed,
when the key is not in memory). A failed write fails the request.

Durability: an entry recorded with ``durable=True`` is fsynced before ``record`` returns;
the API records every response (and the request of every operation that changes something)
that way, so no answer leaves the server before its audit trail is on disk. Concurrent
requests share fsyncs (group commit): one fsync covers every line written before it.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from stackwright.secrets import crypto
from stackwright.secrets.errors import AuditWriteError
from stackwright.secrets.timeutil import now_us, rfc3339

GENESIS = "0" * 64


class AuditSink(Protocol):
    """Append-only storage of audit lines: ``write`` appends, ``sync`` makes durable."""

    def write(self, line: str) -> int:
        """Append one line; returns a ticket for ``sync``."""
        ...

    def sync(self, ticket: int) -> None:
        """Return once every line up to ``ticket`` is durable."""
        ...

    def tail(self) -> str | None:
        """The last line written, or None when empty."""
        ...

    def close(self) -> None: ...


class FileAuditSink:
    """JSON lines in a file created 0600; ``sync`` fsyncs, shared by concurrent callers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise AuditWriteError(f"cannot open the audit file {path}: {exc}") from exc
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self._fd)
            raise AuditWriteError(
                f"the audit file {path} is in use by another store",
                hint="one writer per audit file keeps the hash chain whole",
            ) from exc
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written = 0
        self._synced = 0
        self._closed = False

    def write(self, line: str) -> int:
        data = (line + "\n").encode()
        with self._lock:
            try:
                if os.fstat(self._fd).st_nlink == 0:
                    raise OSError("the audit file was removed")
                written = os.write(self._fd, data)
                if written != len(data):
                    raise OSError(f"short write: {written} of {len(data)} bytes")
            except OSError as exc:
                raise AuditWriteError(f"cannot write the audit file {self.path}: {exc}") from exc
            self._written += 1
            return self._written

    def sync(self, ticket: int) -> None:
        with self._sync_lock:
            if self._synced >= ticket:
                return  # an fsync that started after our write already covered it
            with self._lock:
                target = self._written
            try:
                os.fsync(self._fd)
            except OSError as exc:
                raise AuditWriteError(f"cannot sync the audit file {self.path}: {exc}") from exc
            self._synced = target

    def append(self, line: str) -> None:
        """Write one line and make it durable."""
        self.sync(self.write(line))

    def tail(self) -> str | None:
        return _last_line(self.path)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self._fd)


def _last_line(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            block, data = 4096, b""
            while size > 0 and data.rstrip(b"\n").count(b"\n") < 1:
                start = max(0, size - block)
                handle.seek(start)
                data = handle.read(size - start) + data
                size = start
    except OSError:
        return None
    lines = data.rstrip(b"\n").split(b"\n")
    return lines[-1].decode() if lines and lines[-1] else None


def entry_hash(entry: Mapping[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return crypto.sha256_hex(json.dumps(body, sort_keys=True, separators=(",", ":")))


def hmac_values(value: Any, key: bytes | None) -> Any:
    """Replace every string (not mapping keys) with its HMAC; numbers and booleans stay."""
    if isinstance(value, str):
        return "hmac-sha256:" + crypto.hmac_hex(key, value) if key else "redacted"
    if isinstance(value, Mapping):
        return {k: hmac_values(v, key) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [hmac_values(v, key) for v in value]
    return value


class AuditLog:
    """Chains entries and hands them to a sink."""

    def __init__(self, sink: AuditSink) -> None:
        self.sink = sink
        self._lock = threading.Lock()
        last = sink.tail()
        loaded = json.loads(last) if last else {}
        self._seq = int(loaded.get("seq", 0))
        self._hash = str(loaded.get("hash", GENESIS))

    def record(self, entry: Mapping[str, Any], *, durable: bool = True) -> str:
        """Append one entry (fsynced unless ``durable`` is False); returns its hash. Raises
        AuditWriteError on failure."""
        with self._lock:
            chained = {"seq": self._seq + 1, "time": rfc3339(now_us()), **entry}
            chained["prev_hash"] = self._hash
            chained["hash"] = entry_hash(chained)
            ticket = self.sink.write(json.dumps(chained, sort_keys=True, separators=(",", ":")))
            self._seq, self._hash = chained["seq"], chained["hash"]
        if durable:
            self.sink.sync(ticket)
        return str(chained["hash"])

    @property
    def head(self) -> tuple[int, str]:
        return self._seq, self._hash

    def close(self) -> None:
        self.sink.close()


@dataclass(frozen=True)
class AuditVerification:
    ok: bool
    entries: int
    line: int = 0
    reason: str = ""


def verify_audit_file(
    path: Path, expected_head: tuple[int, str] | None = None
) -> AuditVerification:
    """Check the chain of an audit file; ``expected_head`` also detects a cut-off tail."""
    prev, count = GENESIS, 0
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            problem = _check_line(line, prev, count + 1)
            if problem:
                return AuditVerification(False, count, number, problem)
            entry = json.loads(line)
            prev, count = entry["hash"], count + 1
    if expected_head is not None and expected_head != (count, prev):
        return AuditVerification(False, count, count, "entries are missing at the end")
    return AuditVerification(True, count)


def _check_line(line: str, prev: str, seq: int) -> str:
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        return "not a JSON line"
    if not isinstance(entry, dict):
        return "not a JSON object"
    if entry.get("seq") != seq:
        return f"sequence {entry.get('seq')} where {seq} was expected (an entry was removed)"
    if entry.get("prev_hash") != prev:
        return "prev_hash does not match the previous entry"
    if entry.get("hash") != entry_hash(entry):
        return "hash does not match the entry (it was edited)"
    return ""
