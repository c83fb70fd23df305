"""``stackwright rollout`` as a user runs it, against the project's state database (the
rollouts themselves, on podman and HAProxy, are in tests/integration/delivery)."""

from __future__ import annotations

from stackwright.delivery.records import RolloutStore
from tests.fixtures.cli import Project


def _store(project: Project) -> RolloutStore:
    return RolloutStore(f"sqlite:///{project.root / '.stackwright' / 'state.db'}")


def test_no_rollout_is_a_clear_error_in_text_and_json(project: Project) -> None:
    text = project.run("rollout", "status", "web")
    assert text.code == 1
    assert "Service/web has had no canary or blue/green rollout" in text.err
    doc = project.run("rollout", "promote", "web", "-o", "json")
    assert doc.code == 1
    assert doc.json()["ok"] is False and "cannot promote web: no rollout" in doc.json()[
        "errors"][0]


def test_commands_reach_a_live_rollout(project: Project) -> None:
    store = _store(project)
    record = store.begin("demo", "dev", "web", strategy="canary", stable="aaa",
                         revision="bbb", steps=2, actor="someone@host")
    status = project.run("rollout", "status", "web", "-o", "json")
    assert status.code == 0, status.err
    assert status.json()["state"] == "progressing" and status.json()["revision"] == "bbb"
    sent = project.run("rollout", "pause", "web", "-o", "json")
    assert sent.json() == {"ok": True, "command": "pause", "rollout": record.id,
                           "service": "web"}
    assert store.take_command(record.id) == "pause"
    store.update(record.id, state="aborted", event="rollout aborted: analysis failed")
    history = project.run("rollout", "history", "web")
    assert "canary" in history.out and "rollout aborted: analysis failed" in history.out
    assert project.run("rollout", "history", "web", "-o", "json").json()[0]["state"] == \
        "aborted"
    other_env = project.run("--env", "prod", "rollout", "status", "web")
    assert other_env.code == 1  # records are per environment


def test_help_lists_every_command(project: Project) -> None:
    out = project.run("rollout", "--help").out
    for name in ("status", "history", "promote", "pause", "resume", "abort", "undo"):
        assert name in out
