"""The audit trail: every request and response, hash-chained, with secrets HMAC'd.

Each entry records ``seq``, ``prev_hash`` and ``hash = sha256(canonical entry without hash)``,
so an edit, a removal or a reordering breaks the chain and :func:`verify_audit_file` finds
the first broken line. Strings in request and response data, tokens and accessors are
replaced by ``hmac-sha256:<hex>`` with the store's audit HMAC key (``redacted`` while sealed,
when the key is not in memory). A failed write fails the request.

Durability: an entry recorded with ``durable=True`` is on disk, as the sink's fsync mode
promises (see auditsink.py: ``always``, ``batch`` with group commit, ``never``), before
``record`` returns; the API records every response (and the request of every operation that
changes something) that way, so no answer leaves the server before its audit trail.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from stackwright.secrets import crypto
from stackwright.secrets.auditsink import FileAuditSink, last_line
from stackwright.secrets.errors import AuditWriteError
from stackwright.secrets.timeutil import now_us, rfc3339

GENESIS = "0" * 64


def _others_ready() -> bool:
    """Whether the running loop has callbacks ready besides this task: only those run before
    it when it yields (what arrives on sockets meanwhile is queued after it), so with none the
    turn would change nothing and only cost a pass of the loop. Loops that do not expose
    their ready queue (uvloop) always yield."""
    ready = getattr(asyncio.get_running_loop(), "_ready", None)
    return ready is None or len(ready) > 0


def _settle(future: asyncio.Future[str], reason: str) -> None:
    if not future.done():
        future.set_result(reason)


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

    def sync_later(self, ticket: int, done: Callable[[str], None]) -> bool:
        """Call ``done`` once ``ticket`` is durable; False if it already is."""
        ...

    def sync_if_alone(self, ticket: int) -> bool:
        """Make ``ticket`` durable now if nothing else is in flight; True if it is."""
        ...

    def in_flight(self) -> AbstractContextManager[None]:
        """Held around one request (group commit may wait for its line)."""
        ...

    @property
    def mode(self) -> str: ...

    def close(self) -> None: ...


__all__ = ["AuditLog", "AuditSink", "FileAuditSink", "last_line", "verify_audit_file"]


def entry_hash(entry: Mapping[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return crypto.sha256_hex(_canonical(body))


def _canonical(entry: Mapping[str, Any]) -> str:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"))


def _chained_line(entry: Mapping[str, Any]) -> tuple[str, str]:
    """(line, hash): the canonical JSON of ``entry`` with its hash added as the last key
    (the hash covers the canonical form without it, whatever the order in the file)."""
    body = _canonical(entry)
    digest = crypto.sha256_hex(body)
    return f'{body[:-1]},"hash":"{digest}"}}', digest


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
        """Append one entry (durable unless ``durable`` is False); returns its hash. Raises
        AuditWriteError on failure."""
        ticket, digest = self._append(entry)
        if durable:
            self.sink.sync(ticket)
        return digest

    def append(self, entry: Mapping[str, Any]) -> int:
        """Write one entry without waiting for it to be durable; returns the ticket that
        ``sync`` or ``durable`` waits for."""
        return self._append(entry)[0]

    def _append(self, entry: Mapping[str, Any]) -> tuple[int, str]:
        stamp = rfc3339(now_us())
        with self._lock:
            chained = {"seq": self._seq + 1, "time": stamp, **entry, "prev_hash": self._hash}
            line, digest = _chained_line(chained)
            ticket = self.sink.write(line)
            self._seq, self._hash = self._seq + 1, digest
        return ticket, digest

    def sync(self, ticket: int) -> None:
        """Block until every line up to ``ticket`` is durable (as the sink's mode says)."""
        if ticket:
            self.sink.sync(ticket)

    async def durable(self, ticket: int) -> None:
        """``sync`` for an event loop, without blocking it while other requests are in flight.
        The loop first lets every request that is ready now run up to its own audit lines
        (one turn: requests on the loop do not yield before, so none could tell whether
        others are about to come); then, if this request is the only one in flight, it
        fsyncs in place (no thread switch); otherwise the syncer thread fsyncs for all of
        them and calls back, and the loop goes on serving during the fsync, so the requests
        that come in meanwhile join the next one."""
        if not ticket or self.sink.mode == "never":
            return
        if self.sink.mode == "always":
            await asyncio.to_thread(self.sink.sync, ticket)
            return
        if _others_ready():
            await asyncio.sleep(0)
        if self.sink.sync_if_alone(ticket):
            return
        loop = asyncio.get_running_loop()
        settled: asyncio.Future[str] = loop.create_future()

        def done(reason: str) -> None:
            loop.call_soon_threadsafe(_settle, settled, reason)

        if self.sink.sync_later(ticket, done):
            reason = await settled
            if reason:
                raise AuditWriteError(reason)

    def in_flight(self) -> AbstractContextManager[None]:
        """Hold around one request's audit lines (see FileAuditSink.in_flight)."""
        return self.sink.in_flight()

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
