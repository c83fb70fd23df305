"""Run history in the state database: numbering, claiming, cancel of a queued run,
orphans of a dead runner, approvals by role and approvers (recorded and audited), artifact
retention (removed, listed as expired, downloads refused)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from stackwright.core.engine import Engine
from stackwright.pipelines.approvals import ApprovalRefused, Approver
from stackwright.pipelines.artifacts import ArtifactExpired, expire_due, listing, usable
from stackwright.pipelines.dag import expand
from stackwright.pipelines.model import PipelineDef, retention_seconds
from stackwright.pipelines.service import PipelineError, PipelineService
from stackwright.pipelines.store import RunStore

DEFINITION = {"environments": {"prod": {"approval": True, "approvers": ["alice"]}},
              "jobs": {"ship": {"host": True, "environment": "prod",
                                "steps": [{"run": "true"}]}}}


def _queue(store: RunStore, pipeline: str = "ci") -> dict[str, object]:
    definition = PipelineDef.model_validate(DEFINITION)
    return store.create_run(pipeline, trigger="manual", ref="refs/heads/main", sha="abc",
                            definition=DEFINITION, source="ci.yaml", group=None,
                            jobs=expand(definition))


def test_numbering_claim_cancel_and_orphans(tmp_path: Path) -> None:
    store = RunStore.open(f"sqlite:///{tmp_path / 'state.db'}", "p", "dev")
    first, second = _queue(store), _queue(store)
    assert (first["number"], second["number"], first["status"]) == (1, 2, "queued")
    assert store.run("ci#2")["id"] == second["id"]
    assert store.claim(str(first["id"]), "host:1") is True
    assert store.claim(str(first["id"]), "host:2") is False, "claimed once"
    store.request_cancel(str(second["id"]))
    assert store.run(str(second["id"]))["status"] == "cancelled"
    assert [j["status"] for j in store.jobs(str(second["id"]))] == ["cancelled"]
    store.update_run(str(first["id"]), owner="nohost-here:1")  # another machine's: kept
    assert store.interrupt_orphans() == []
    import socket

    store.update_run(str(first["id"]), owner=f"{socket.gethostname()}:999999999")
    assert store.interrupt_orphans() == [first["id"]]
    assert store.run(str(first["id"]))["status"] == "interrupted"
    assert store.jobs(str(first["id"]))[0]["status"] == "interrupted"
    other = RunStore.open(f"sqlite:///{tmp_path / 'state.db'}", "p", "prod")
    assert other.runs() == [], "runs are kept per project and environment"


@pytest.mark.parametrize("ref", ["ci#", "ci#x", "ci#\u00b2", "ci#" + "9" * 30])
def test_a_run_number_that_is_not_one_is_no_run(tmp_path: Path, ref: str) -> None:
    store = RunStore.open(f"sqlite:///{tmp_path / 'state.db'}", "p", "dev")
    _queue(store)
    from stackwright.errors import StateError

    with pytest.raises(StateError, match="no pipeline run"):
        store.run(ref)


def _approver(name: str, roles: dict[str, str]) -> Approver:
    return Approver(name, "token", lambda env: roles.get(env, roles.get("*")))


def test_only_approvers_with_operator_in_prod_approve(tmp_path: Path) -> None:
    (tmp_path / "stackwright.yaml").write_text("project: p\n")
    service = PipelineService(Engine(tmp_path))
    run = _queue(service.store)
    alice = _approver("alice", {"*": "developer", "prod": "operator"})
    with pytest.raises(PipelineError, match="no job of run .* waits for approval"):
        service.approve(str(run["id"]), None, alice)
    service.store.update_job(str(run["id"]), "ship", status="waiting")
    with pytest.raises(ApprovalRefused, match="bob may not approve .*approvers: alice"):
        service.approve(str(run["id"]), None, _approver("bob", {"prod": "admin"}))
    dev = _approver("alice", {"*": "developer"})
    with pytest.raises(ApprovalRefused, match="alice is developer in prod; approving job "
                       "ship .*a protected environment.* needs operator") as refused:
        service.approve(str(run["id"]), None, dev)
    assert "stackwright user grant alice operator --in prod" in str(refused.value)
    assert service.store.job(str(run["id"]), "ship")["approved_by"] is None
    assert service.approve(str(run["id"]), "ship", alice) == ["ship"]
    assert service.store.job(str(run["id"]), "ship")["approved_by"] == "alice"
    entry = service.engine.store.audit_entries(project="p")[-1]
    assert (entry.actor, entry.action, entry.env) == ("alice (token)", "pipeline.approve",
                                                      "prod")
    assert entry.data["job"] == "ship" and entry.data["role"] == "operator"


def test_unprotected_environments_need_developer(tmp_path: Path) -> None:
    (tmp_path / "stackwright.yaml").write_text(
        "project: p\nsettings: {server: {protected: [live]}}\n")
    service = PipelineService(Engine(tmp_path))
    run = _queue(service.store)  # deploys to prod, which these settings do not protect
    service.store.update_job(str(run["id"]), "ship", status="waiting")
    with pytest.raises(ApprovalRefused, match="viewer in prod; .* needs developer"):
        service.approve(str(run["id"]), None, _approver("alice", {"*": "viewer"}))
    assert service.approve(str(run["id"]), None, _approver("alice", {"*": "developer"}))


def test_retention_is_days_or_a_duration() -> None:
    assert retention_seconds(2) == 2 * 86400
    assert retention_seconds("90s") == 90 and retention_seconds("12h") == 43200
    for bad in ("soon", "0s", "-1d"):
        with pytest.raises(ValueError, match="retention"):
            retention_seconds(bad)
    definition = PipelineDef.model_validate({
        "artifactRetention": "3d",
        "jobs": {"a": {"host": True, "steps": [{"run": "true"}], "artifacts": {"paths": ["x"]}},
                 "b": {"host": True, "steps": [{"run": "true"}],
                       "artifacts": {"paths": ["x"], "retention": "5m"}}}})
    assert definition.retention_of(definition.jobs["a"]) == 3 * 86400
    assert definition.retention_of(definition.jobs["b"]) == 300
    with pytest.raises(ValueError, match="'weekly' is not a retention"):
        PipelineDef.model_validate({"jobs": {"a": {
            "host": True, "steps": [{"run": "true"}],
            "artifacts": {"paths": ["x"], "retention": "weekly"}}}})


def test_expired_artifacts_are_removed_listed_and_refused(tmp_path: Path) -> None:
    store = RunStore.open(f"sqlite:///{tmp_path / 'state.db'}", "p", "dev")
    run = _queue(store)
    run_id = str(run["id"])
    kept, old = tmp_path / "kept.tar", tmp_path / "old.tar"
    for path, job in ((kept, "kept"), (old, "old")):
        path.write_bytes(b"x" * 10)
        store.add_artifact(run_id, job, str(path), 10, 3600 if job == "kept" else 60)
    now = time.time()
    assert expire_due(store, now) == []
    gone = expire_due(store, now + 120)
    assert gone == [{"run": run_id, "job": "old", "size": 10}]
    assert not old.exists() and kept.exists()
    assert expire_due(store, now + 120) == [], "removed once"
    listed = {a["job"]: a for a in listing(store, run, None, None)["artifacts"]}
    assert listed["old"]["expired"] and listed["old"]["retention"] == "1m"
    assert not listed["kept"]["expired"] and listed["kept"]["retention"] == "1h"
    with pytest.raises(ArtifactExpired, match=f"artifact of job old in run {run_id} "
                       r"expired at \S+ \(kept 1m\).*pipeline rerun"):
        usable(store, run_id, "old")
    assert usable(store, run_id, "kept")["path"] == str(kept)
    with pytest.raises(ArtifactExpired):
        listing(store, run, "old", tmp_path / "dl")
    assert not (tmp_path / "dl" / "old").exists(), "nothing extracted for an expired one"
