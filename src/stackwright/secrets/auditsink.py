"""The audit file: append-only JSON lines, made durable by one of three fsync policies.

``fsync`` says when a line recorded as durable is on disk:

- ``always``: each durable line gets its own fsync before its request goes on; nothing is
  shared (the slowest, and what an auditor may ask for);
- ``batch`` (the default): group commit. A thread blocked in ``sync`` that finds no fsync
  running leads one itself: it waits at most ``batch_window`` seconds, and only while other
  requests are still in flight without waiting, then one fsync covers every line written so
  far and releases every waiter it covered; threads that arrive meanwhile wait for it and,
  if it did not cover them, the first to see it end leads the next. An event loop does not
  block on a slow fsync while other requests are in flight: a syncer thread leads for it and
  calls it back (``sync_later``); alone, or while fsyncs take less than
  ``IN_PLACE_FSYNC_S``, it fsyncs in place (``sync_if_alone``).
  The same promise as ``always`` (no answer before its line is durable), at a fraction of
  the fsyncs;
- ``never``: lines are written to the file (the kernel's page cache) before the answer, so
  they survive the server being killed, but not a power loss or a kernel crash.

Failures close the door (fail-closed, as Vault's audit devices): a write that fails or is
short is cut back to the last whole line and raises :class:`AuditWriteError`; a failed fsync
also poisons the sink (the kernel may have dropped the unwritten pages, so a later fsync that
succeeds proves nothing) and every later write fails until the store is opened again.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal, get_args

from stackwright.secrets.errors import AuditWriteError

FsyncMode = Literal["always", "batch", "never"]
FSYNC_MODES: tuple[str, ...] = get_args(FsyncMode)
DEFAULT_BATCH_WINDOW = 0.002
# An event loop fsyncs in place, for every request in flight, while fsyncs take less than this
# (a short block of the loop costs less than handing over to the syncer and back); slower,
# the syncer fsyncs and the loop goes on serving meanwhile.
IN_PLACE_FSYNC_S = 0.0005


class FileAuditSink:
    """JSON lines in a file created 0600, locked against a second writer."""

    def __init__(
        self,
        path: Path,
        *,
        fsync: FsyncMode = "batch",
        batch_window: float = DEFAULT_BATCH_WINDOW,
    ) -> None:
        if fsync not in FSYNC_MODES:
            raise AuditWriteError(
                f"unknown audit fsync mode {fsync!r}", hint=f"one of {', '.join(FSYNC_MODES)}"
            )
        self.path = path
        self.mode: FsyncMode = fsync
        self.batch_window = max(0.0, batch_window)
        self._fd = _open_locked(path)
        self._size = _drop_torn_tail(self._fd)
        self._cond = threading.Condition(threading.Lock())
        self._always_lock = threading.Lock()
        self._written = 0  # tickets handed out (one a line)
        self._synced = 0  # every ticket up to this one is durable
        self._requested = 0  # the highest ticket someone waits for
        self._waiting = 0  # callers waiting for a sync (blocked or called back)
        self._callbacks: list[tuple[int, Callable[[str], None]]] = []
        self._syncer: threading.Thread | None = None
        self._syncing = False  # an fsync runs (in the syncer or a caller), or is gathering
        self._gathering = False  # a leading caller waits for the requests in flight
        self._active = 0  # requests in flight (see in_flight)
        self._failed = ""
        self._closed = False
        self.fsyncs = 0  # for tests and benchmarks: how many fsyncs ran
        self.fsync_cost = 0.0  # seconds an fsync took lately (moving average)

    # -- writing --------------------------------------------------------------------------
    def write(self, line: str) -> int:
        """Append one line; returns a ticket for ``sync``. Raises AuditWriteError."""
        data = (line + "\n").encode()
        with self._cond:
            if self._failed:
                raise AuditWriteError(f"the audit file {self.path} failed earlier: {self._failed}")
            try:
                if os.fstat(self._fd).st_nlink == 0:
                    raise OSError("the audit file was removed")
                written = os.write(self._fd, data)
                if written != len(data):
                    raise OSError(f"short write: {written} of {len(data)} bytes")
            except OSError as exc:
                self._cut_back()
                raise AuditWriteError(f"cannot write the audit file {self.path}: {exc}") from exc
            self._size += written
            self._written += 1
            return self._written

    def _cut_back(self) -> None:
        """Drop a partial line so the file still ends with a whole entry."""
        try:
            if os.fstat(self._fd).st_size != self._size:
                os.ftruncate(self._fd, self._size)
        except OSError:
            self._failed = "a partial line could not be removed"

    # -- durability -----------------------------------------------------------------------
    def sync(self, ticket: int) -> None:
        """Return once every line up to ``ticket`` is durable (as the mode promises)."""
        if self.mode == "never":
            return
        if self.mode == "always":
            self._fsync_alone()
            return
        with self._cond:
            self._waiting += 1
            if self._gathering:
                self._cond.notify_all()  # the leader counts who waits
            try:
                while self._synced < ticket:
                    if self._failed or self._closed:
                        reason = self._failed or "the audit file was closed"
                        raise AuditWriteError(f"cannot sync the audit file: {reason}")
                    if self._syncing:
                        self._cond.wait()  # every fsync (and a gathering leader) notifies
                    else:
                        self._lead()
            finally:
                self._waiting -= 1

    def sync_if_alone(self, ticket: int) -> bool:
        """Batch mode, for an event loop: fsync here and now if no fsync runs and either no
        other request is in flight (nothing to group with, so handing over to the syncer
        would only add a thread switch) or fsyncs are quick (``IN_PLACE_FSYNC_S``: blocking
        the loop that long costs less than the hand-off); True once ``ticket`` is durable,
        False to wait through ``sync_later``."""
        with self._cond:
            if self._failed:
                raise AuditWriteError(f"cannot sync the audit file: {self._failed}")
            quick = self._active <= 1 or self.fsync_cost < IN_PLACE_FSYNC_S
            if self._synced < ticket and not self._syncing and quick:
                self._sync_once()
                if self._failed:
                    raise AuditWriteError(f"cannot sync the audit file: {self._failed}")
            return self._synced >= ticket

    def _lead(self) -> None:
        """Gather, then one fsync, in the calling thread (called holding the lock, no fsync
        running): other waiters wait for this one, also while it gathers."""
        self._syncing = True
        try:
            self._gather()
        finally:
            self._syncing = False
        self._sync_once()

    def sync_later(self, ticket: int, done: Callable[[str], None]) -> bool:
        """Batch mode, without blocking: ``done("")`` is called from the syncer once ``ticket``
        is durable, ``done(reason)`` if it cannot be. Returns False (and never calls ``done``)
        when it already is. Raises AuditWriteError if the sink has failed."""
        with self._cond:
            if self._failed:
                raise AuditWriteError(f"cannot sync the audit file: {self._failed}")
            if self._synced >= ticket:
                return False
            self._callbacks.append((ticket, done))
            self._waiting += 1
            self._want(ticket)
            return True

    def _fsync_alone(self) -> None:
        with self._always_lock:
            if self._failed:
                raise AuditWriteError(f"cannot sync the audit file: {self._failed}")
            try:
                os.fsync(self._fd)
            except OSError as exc:
                self._failed = str(exc)
                raise AuditWriteError(f"cannot sync the audit file {self.path}: {exc}") from exc
            self.fsyncs += 1

    def _want(self, ticket: int) -> None:
        """Ask the syncer for ``ticket``; called holding the lock."""
        self._requested = max(self._requested, ticket)
        if self._syncer is None or not self._syncer.is_alive():
            self._syncer = threading.Thread(target=self._run_syncer, name="audit-sync", daemon=True)
            self._syncer.start()
        self._cond.notify_all()

    def _run_syncer(self) -> None:
        with self._cond:
            while not self._failed:
                while not self._closed and (self._requested <= self._synced or self._syncing):
                    self._cond.wait()
                if self._closed:
                    break
                self._gather()
                if self._requested > self._synced and not self._syncing:  # nobody led meanwhile
                    self._sync_once()
            self._settle(self._failed or "the audit file was closed")

    def _gather(self) -> None:
        """Wait (at most the window) while requests in flight have not asked for a sync."""
        deadline = time.monotonic() + self.batch_window
        self._gathering = True
        try:
            while self._active > self._waiting and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._cond.wait(remaining)
        finally:
            self._gathering = False

    def _sync_once(self) -> None:
        """One fsync for every line written so far; called holding the lock."""
        target = self._written
        error: OSError | None = None
        self._syncing = True
        self._cond.release()
        began = time.monotonic()
        try:
            os.fsync(self._fd)
        except OSError as exc:
            error = exc
        finally:
            self._cond.acquire()
            self._syncing = False
        self.fsync_cost = 0.8 * self.fsync_cost + 0.2 * (time.monotonic() - began)
        if error is not None:
            self._failed = f"{self.path}: {error}"
        else:
            self.fsyncs += 1
            self._synced = max(self._synced, target)
        self._settle(self._failed)
        self._cond.notify_all()

    def _settle(self, failure: str) -> None:
        """Call back every waiter that is durable now (all of them on a failure)."""
        ready = [(t, cb) for t, cb in self._callbacks if failure or t <= self._synced]
        if not ready:
            return
        self._callbacks = [(t, cb) for t, cb in self._callbacks if not failure and t > self._synced]
        self._waiting -= len(ready)
        reason = f"cannot sync the audit file: {failure}" if failure else ""
        for _, done in ready:
            try:
                done(reason)  # loop.call_soon_threadsafe: quick
            except Exception:  # noqa: S110 - a closed loop has nobody left to answer
                pass

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        """Mark one request as running: a batch leader may wait (up to the window) for its
        line rather than fsync without it."""
        with self._cond:
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()  # a gathering syncer counts the requests in flight

    # -- the rest -------------------------------------------------------------------------
    def tail(self) -> str | None:
        """The last line written, or None when empty."""
        return last_line(self.path)

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
            syncer = self._syncer
        if syncer is not None:
            syncer.join(timeout=30)
        with self._cond:
            os.close(self._fd)


def _open_locked(path: Path) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as exc:
        raise AuditWriteError(f"cannot open the audit file {path}: {exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        raise AuditWriteError(
            f"the audit file {path} is in use by another store",
            hint="one writer per audit file keeps the hash chain whole",
        ) from exc
    return fd


def _drop_torn_tail(fd: int) -> int:
    """Cut a last line without its newline (torn by a power loss mid-write: it was never
    durable, so no answer depended on it); returns the size kept."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return size
    keep = size
    while keep > 0:
        start = max(0, keep - 4096)
        newline = os.pread(fd, keep - start, start).rfind(b"\n")
        if newline >= 0:
            keep = start + newline + 1
            break
        keep = start
    os.ftruncate(fd, keep)
    return keep


def last_line(path: Path) -> str | None:
    """The last line of a file, or None when it is empty or unreadable."""
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
