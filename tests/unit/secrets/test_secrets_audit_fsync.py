"""The audit file's fsync modes: always, batch (group commit) and never; fail-closed."""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from stackwright.errors import SecretsError
from stackwright.secrets.audit import AuditLog, verify_audit_file
from stackwright.secrets.auditsink import FileAuditSink
from stackwright.secrets.config import audit_options
from stackwright.secrets.errors import AuditWriteError


def _log(tmp_path: Path, **options: Any) -> AuditLog:
    return AuditLog(FileAuditSink(tmp_path / "audit.jsonl", **options))


def test_always_fsyncs_every_durable_line_and_never_none(tmp_path: Path) -> None:
    always = _log(tmp_path / "a", fsync="always")
    for n in range(5):
        always.record({"type": "response", "n": n})
    always.record({"type": "request"}, durable=False)
    assert always.sink.fsyncs == 5  # type: ignore[attr-defined]
    always.close()
    never = _log(tmp_path / "n", fsync="never")
    for n in range(5):
        never.record({"type": "response", "n": n})
    assert never.sink.fsyncs == 0  # type: ignore[attr-defined]
    never.close()
    assert len((tmp_path / "n/audit.jsonl").read_text().splitlines()) == 5  # written anyway


class SlowDisk:
    """os.fsync that takes a while, recording when each call started and ended."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls: list[tuple[float, float]] = []
        self._real = os.fsync

    def __call__(self, fd: int) -> None:
        started = time.monotonic()
        time.sleep(self.seconds)
        self._real(fd)
        self.calls.append((started, time.monotonic()))


def test_batch_answers_only_after_an_fsync_that_began_after_its_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = SlowDisk(0.02)
    monkeypatch.setattr(os, "fsync", disk)
    log = _log(tmp_path, fsync="batch", batch_window=0.002)
    spans: list[tuple[float, float]] = []

    def request(n: int) -> None:
        with log.in_flight():
            for _ in range(5):
                written = time.monotonic()
                log.record({"type": "response", "n": n})
                spans.append((written, time.monotonic()))

    threads = [threading.Thread(target=request, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    assert len(spans) == 80
    assert len(disk.calls) < 40, "fsyncs are shared"
    for written, answered in spans:
        assert any(written <= start and end <= answered for start, end in disk.calls)
    assert verify_audit_file(tmp_path / "audit.jsonl").ok


def test_batch_leader_waits_for_a_request_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = SlowDisk(0.0)
    monkeypatch.setattr(os, "fsync", disk)
    log = _log(tmp_path, fsync="batch", batch_window=30.0)
    second_in = threading.Event()

    def second() -> None:
        with log.in_flight():
            second_in.set()
            time.sleep(0.05)  # still working when the first one wants its fsync
            log.record({"type": "response", "n": 2})

    with log.in_flight():
        thread = threading.Thread(target=second)
        thread.start()
        second_in.wait(10)
        log.record({"type": "response", "n": 1})
    thread.join()
    log.close()
    assert len(disk.calls) == 1, "one fsync covered both requests"


def test_a_failed_fsync_fails_the_request_and_every_later_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _log(tmp_path, fsync="batch")
    log.record({"type": "response", "n": 1})

    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(AuditWriteError, match="Input/output error"):
        log.record({"type": "response", "n": 2})
    monkeypatch.undo()
    with pytest.raises(AuditWriteError, match="failed earlier"):
        log.record({"type": "response", "n": 3})
    log.close()


def test_a_short_write_is_cut_back_to_the_last_whole_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _log(tmp_path)
    log.record({"type": "response", "n": 1})
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[: len(data) // 2]))
    with pytest.raises(AuditWriteError, match="short write"):
        log.record({"type": "response", "n": 2})
    monkeypatch.undo()
    log.record({"type": "response", "n": 3})
    log.close()
    path = tmp_path / "audit.jsonl"
    assert [json.loads(line)["n"] for line in path.read_text().splitlines()] == [1, 3]
    assert verify_audit_file(path).ok


def test_a_torn_last_line_is_dropped_on_open(tmp_path: Path) -> None:
    log = _log(tmp_path)
    for n in range(3):
        log.record({"type": "response", "n": n})
    log.close()
    path = tmp_path / "audit.jsonl"
    with path.open("a") as handle:
        handle.write('{"seq":4,"type":"resp')  # a power loss in the middle of a write
    log = _log(tmp_path)
    log.record({"type": "response", "n": 3})
    log.close()
    result = verify_audit_file(path)
    assert result.ok and result.entries == 4


def test_unknown_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AuditWriteError, match="unknown audit fsync mode"):
        FileAuditSink(tmp_path / "a.jsonl", fsync="sometimes")  # type: ignore[arg-type]


def test_audit_options_from_project_settings() -> None:
    assert audit_options({}) == {}
    options = audit_options({"secrets": {"audit": {"fsync": "always", "batchWindowMs": 5}}})
    assert options == {"audit_fsync": "always", "audit_batch_window": 0.005}
    assert audit_options({"secrets": {"audit": {}}})["audit_fsync"] == "batch"
    with pytest.raises(SecretsError, match=r"settings\.secrets\.audit\.fsync: 'fast'") as exc:
        audit_options({"secrets": {"audit": {"fsync": "fast"}}})
    assert exc.value.hint and "always" in exc.value.hint
    with pytest.raises(SecretsError, match="batchWindowMs"):
        audit_options({"secrets": {"audit": {"batchWindowMs": -1}}})
    with pytest.raises(SecretsError, match=r"audit\.fsyncs: unknown field"):
        audit_options({"secrets": {"audit": {"fsyncs": "batch"}}})
