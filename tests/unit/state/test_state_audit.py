"""The hash-chained audit log on SQLite and (slow) PostgreSQL."""

from __future__ import annotations

import pytest
from tests.fixtures.state import raw_sql

from stackwright.core.state import AuditEvent, StateStore


@pytest.fixture()
def logged(store: StateStore) -> StateStore:
    for n in range(1, 6):
        project = "shop" if n % 2 else "blog"
        store.audit_append(AuditEvent("ana", "apply", project, "dev", {"n": n, "ok": True}))
    return store


def test_entries_chain_and_verify(logged: StateStore) -> None:
    entries = logged.audit_entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in zip(entries, entries[1:], strict=False))
    assert entries[2].data == {"n": 3, "ok": True} and entries[2].time.endswith("+00:00")
    assert [e.seq for e in logged.audit_entries(project="shop")] == [1, 3, 5]
    report = logged.audit_verify()
    assert report.ok and report.entries == 5 and report.problems == []


def test_edited_entry_is_detected(logged: StateStore, state_url: str) -> None:
    raw_sql(state_url, "UPDATE audit_log SET data = :d WHERE seq = 3", {"d": '{"n":33}'})
    report = logged.audit_verify()
    assert not report.ok
    assert any("entry 3" in p and "edited" in p for p in report.problems)


def test_edited_entry_with_recomputed_hash_breaks_the_next_link(
    logged: StateStore, state_url: str
) -> None:
    raw_sql(state_url, "UPDATE audit_log SET hash = :h WHERE seq = 2", {"h": "f" * 64})
    problems = logged.audit_verify().problems
    assert any(p.startswith("entry 2: hash mismatch") for p in problems)
    assert any(p.startswith("entry 3: prev_hash") for p in problems)


def test_deleted_middle_entry_is_detected(logged: StateStore, state_url: str) -> None:
    raw_sql(state_url, "DELETE FROM audit_log WHERE seq = 3")
    report = logged.audit_verify()
    assert not report.ok and report.entries == 4
    assert any("entry 3 missing" in p for p in report.problems)


def test_deleted_last_entries_are_detected(logged: StateStore, state_url: str) -> None:
    raw_sql(state_url, "DELETE FROM audit_log WHERE seq >= 4")
    report = logged.audit_verify()
    assert not report.ok
    assert any("entries 4-5 missing" in p for p in report.problems)


def test_appending_after_verify_continues_chain(logged: StateStore) -> None:
    entry = logged.audit_append(AuditEvent("bob", "login"))
    assert entry.seq == 6 and entry.project is None
    assert logged.audit_verify().ok
