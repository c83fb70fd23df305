"""The audit log awaited on an event loop (KV reads served there): the requests ready in one
turn of the loop share one fsync, a request alone fsyncs in place, and an fsync running in a
worker thread is awaited without blocking the loop."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest

from stackwright.secrets.audit import AuditLog, verify_audit_file
from stackwright.secrets.auditsink import FileAuditSink

CLIENTS = 16


class CountingDisk:
    """os.fsync that records, per call, the file size it made durable."""

    def __init__(self) -> None:
        self.durable_sizes: list[int] = []
        self._real = os.fsync

    def __call__(self, fd: int) -> None:
        size = os.fstat(fd).st_size
        self._real(fd)
        self.durable_sizes.append(size)


def _log(tmp_path: Path, window: float = 0.002) -> AuditLog:
    return AuditLog(FileAuditSink(tmp_path / "audit.jsonl", fsync="batch", batch_window=window))


def test_requests_ready_in_one_turn_share_one_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = CountingDisk()
    monkeypatch.setattr(os, "fsync", disk)
    log = _log(tmp_path, window=60.0)  # the syncer waits for every request in flight
    path = tmp_path / "audit.jsonl"
    answered_with: list[tuple[int, int]] = []  # (bytes written up to my line, durable bytes)

    async def request(n: int) -> None:
        with log.in_flight():
            ticket = log.append({"type": "response", "n": n})
            mine = path.stat().st_size
            await log.durable(ticket)
            answered_with.append((mine, disk.durable_sizes[-1]))

    async def main() -> None:
        await asyncio.gather(*(request(n) for n in range(CLIENTS)))

    asyncio.run(main())
    log.close()
    assert len(answered_with) == CLIENTS
    assert all(mine <= durable for mine, durable in answered_with), "answered before durable"
    assert len(disk.durable_sizes) == 1, "one fsync covered the 16 lines"
    assert verify_audit_file(path).ok


def test_an_fsync_running_in_a_thread_is_awaited_without_blocking_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.fsync
    release = threading.Event()
    first = threading.Event()

    def blocked_until_released(fd: int) -> None:
        if not first.is_set():
            first.set()
            assert release.wait(60), "the loop never ran while the fsync was blocked"
        real(fd)

    monkeypatch.setattr(os, "fsync", blocked_until_released)
    log = _log(tmp_path)
    worker = threading.Thread(target=log.record, args=({"type": "response", "n": 0},))
    worker.start()
    assert first.wait(60)  # a worker thread's fsync runs (and hangs) now

    async def main() -> bool:
        ticket = log.append({"type": "response", "n": 1})
        waiting = asyncio.ensure_future(log.durable(ticket))
        await asyncio.sleep(0.05)
        still_waiting = not waiting.done()  # its line came after the running fsync began
        release.set()  # only possible if the loop is not blocked in ``durable``
        await asyncio.wait_for(waiting, 60)
        return still_waiting

    assert asyncio.run(main())
    worker.join(60)
    log.close()
    assert verify_audit_file(tmp_path / "audit.jsonl").ok


def test_a_request_alone_fsyncs_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    disk = CountingDisk()
    monkeypatch.setattr(os, "fsync", disk)
    log = _log(tmp_path)
    fsynced_by: list[str] = []
    real = disk.__call__

    def recording(fd: int) -> None:
        fsynced_by.append(threading.current_thread().name)
        real(fd)

    monkeypatch.setattr(os, "fsync", recording)

    async def main() -> None:
        for n in range(3):
            with log.in_flight():
                await log.durable(log.append({"type": "response", "n": n}))

    asyncio.run(main())
    log.close()
    assert fsynced_by == ["MainThread"] * 3  # no syncer thread involved


def test_a_request_alone_does_not_yield_before_its_fsync(tmp_path: Path) -> None:
    """With nothing else ready on the loop, a turn of it would let nobody write a line
    first: the read fsyncs without suspending (one pass of the loop less)."""
    log = _log(tmp_path)

    async def finishes_without_suspending() -> bool:
        with log.in_flight():
            durable = log.durable(log.append({"type": "response", "n": 0}))
            try:
                durable.send(None)
            except StopIteration:
                return True
            durable.close()
            return False

    assert asyncio.run(finishes_without_suspending())
    log.close()
    assert verify_audit_file(tmp_path / "audit.jsonl").entries == 1


def _fsyncing_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, delay: float) -> set[str]:
    """Which threads fsync 16 reads ready in one turn, on a disk whose fsync takes ``delay``
    (after reads alone have measured it)."""
    real = os.fsync
    threads: list[str] = []

    def disk(fd: int) -> None:
        if delay:  # a slow disk; else none at all (a real fsync may be slow under load)
            time.sleep(delay)
            real(fd)
        threads.append(threading.current_thread().name)

    monkeypatch.setattr(os, "fsync", disk)
    log = _log(tmp_path)

    async def request(n: int) -> None:
        with log.in_flight():
            await log.durable(log.append({"type": "response", "n": n}))

    async def main() -> None:
        for n in range(5):  # alone: in place, whatever the disk; measures it
            await request(n)
        threads.clear()
        await asyncio.gather(*(request(n) for n in range(CLIENTS)))

    asyncio.run(main())
    log.close()
    assert verify_audit_file(tmp_path / "audit.jsonl").entries == 5 + CLIENTS
    return set(threads)


def test_quick_fsyncs_run_in_place_for_every_request_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _fsyncing_threads(tmp_path, monkeypatch, 0.0) == {"MainThread"}


def test_slow_fsyncs_run_in_the_syncer_while_others_are_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _fsyncing_threads(tmp_path, monkeypatch, 0.01) == {"audit-sync"}
