from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from stackwright.secrets.audit import AuditLog, FileAuditSink, hmac_values, verify_audit_file
from stackwright.secrets.errors import AuditWriteError


def _log(path: Path, n: int) -> tuple[int, str]:
    log = AuditLog(FileAuditSink(path))
    for i in range(n):
        log.record({"type": "request", "request": {"path": f"p/{i}"}})
    head = log.head
    log.close()
    return head


def test_chain_verifies_and_continues_after_reopen(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _log(path, 3)
    head = _log(path, 2)
    assert head[0] == 5
    result = verify_audit_file(path, expected_head=head)
    assert result.ok and result.entries == 5
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_edit_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _log(path, 4)
    lines = path.read_text().splitlines()
    entry = json.loads(lines[2])
    entry["request"]["path"] = "p/forged"
    lines[2] = json.dumps(entry)
    path.write_text("\n".join(lines) + "\n")
    result = verify_audit_file(path)
    assert not result.ok and result.line == 3 and "edited" in result.reason


def test_deletions_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    head = _log(path, 4)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:1] + lines[2:]) + "\n")
    result = verify_audit_file(path)
    assert not result.ok and result.line == 2 and "removed" in result.reason
    path.write_text("\n".join(lines[:3]) + "\n")
    assert verify_audit_file(path).ok  # a cut tail needs the head to be seen
    assert not verify_audit_file(path, expected_head=head).ok


def test_unwritable_sink_raises(tmp_path: Path) -> None:
    log = AuditLog(FileAuditSink(Path("/dev/full")))
    with pytest.raises(AuditWriteError):
        log.record({"type": "request"})
    log.close()


def test_hmac_values_hides_strings_keeps_structure() -> None:
    hidden = hmac_values({"password": "hunter2", "n": 3, "ok": True, "l": ["a"]}, b"key")
    assert hidden["password"].startswith("hmac-sha256:") and "hunter2" not in json.dumps(hidden)
    assert hidden["n"] == 3 and hidden["ok"] is True and hidden["l"][0].startswith("hmac")
    assert hmac_values({"k": "v"}, None) == {"k": "redacted"}


def test_one_fsync_covers_every_line_written_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fsyncs: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd))[1])
    sink = FileAuditSink(tmp_path / "audit.jsonl")
    log = AuditLog(sink)
    log.record({"type": "request"}, durable=False)
    assert fsyncs == []
    first, second = sink.write('{"a":1}'), sink.write('{"b":2}')
    sink.sync(second)
    sink.sync(first)  # already covered by the fsync for `second`
    assert len(fsyncs) == 1
    log.record({"type": "response"})
    assert len(fsyncs) == 2
    log.close()
    assert len((tmp_path / "audit.jsonl").read_text().splitlines()) == 4
