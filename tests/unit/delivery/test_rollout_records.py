"""Rollout records in a real SQLite state database: one live rollout per service, commands
left for the runner, runners that died, the audit chain."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackwright.core.state.crypto import Cipher
from stackwright.core.state.records import AuditEvent
from stackwright.core.state.store import StateStore
from stackwright.delivery.records import RolloutBusy, RolloutStore
from stackwright.errors import PermanentError


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


def begin(store: RolloutStore, service: str = "web") -> int:
    return store.begin("p", "dev", service, strategy="canary", stable="aaa", revision="bbb",
                       steps=3, actor="me").id


def test_one_live_rollout_per_service(url: str) -> None:
    store = RolloutStore(url)
    first = begin(store)
    with pytest.raises(RolloutBusy, match="rollout 1 \\(canary, revision bbb\\) is "
                                          "progressing"):
        begin(store)
    begin(store, "api")  # another service is free
    store.update(first, state="succeeded", event="done")
    assert begin(store) == 3
    assert [r.state for r in store.history("p", "dev", "web")] == ["succeeded", "progressing"]


def test_a_dead_runner_does_not_block(url: str) -> None:
    store = RolloutStore(url)
    rid = begin(store)
    with store.engine.begin() as conn:  # as if a process that is gone ran it
        conn.exec_driver_sql("UPDATE delivery_rollouts SET runner_pid = 2147483646")
    assert begin(store) == rid + 1
    assert store.history("p", "dev", "web")[0].state == "interrupted"


def test_commands_reach_the_runner_once(url: str) -> None:
    runner, cli = RolloutStore(url), RolloutStore(url)
    rid = begin(runner)
    assert cli.request("p", "dev", "web", "promote").command == "promote"
    assert runner.take_command(rid) == "promote"
    assert runner.take_command(rid) is None
    runner.update(rid, state="aborted")
    with pytest.raises(PermanentError, match="cannot promote web: rollout 1 is aborted"):
        cli.request("p", "dev", "web", "promote")
    with pytest.raises(PermanentError, match="unknown rollout command"):
        cli.request("p", "dev", "web", "restart")


def test_events_and_measurements_are_kept(url: str) -> None:
    store = RolloutStore(url)
    rid = begin(store)
    store.update(rid, event="step 1/3: setWeight 10", weight=10,
                 measurements=[{"metric": "errors", "phase": "Failed"}])
    record = store.latest("p", "dev", "web")
    assert record is not None and record.weight == 10
    assert [e["what"] for e in record.events] == ["started", "step 1/3: setWeight 10"]
    assert record.measurements == [{"metric": "errors", "phase": "Failed"}]


def test_audit_entries_join_the_state_chain(url: str) -> None:
    state = StateStore.open(url, cipher=Cipher(b"k" * 32))
    store = RolloutStore(url)
    store.audit(AuditEvent(actor="me", action="rollout.aborted", project="p", env="dev",
                           data={"service": "web"}))
    assert [e.action for e in state.audit_entries()] == ["rollout.aborted"]
    assert state.audit_verify().ok
    state.close()
