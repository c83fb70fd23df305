"""Run history in the state database: numbering, claiming, cancel of a queued run,
orphans of a dead runner, approvals limited to the approvers."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackwright.core.engine import Engine
from stackwright.pipelines.dag import expand
from stackwright.pipelines.model import PipelineDef
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


def test_only_approvers_approve(tmp_path: Path) -> None:
    (tmp_path / "stackwright.yaml").write_text("project: p\n")
    service = PipelineService(Engine(tmp_path))
    run = _queue(service.store)
    with pytest.raises(PipelineError, match="no job of run .* waits for approval"):
        service.approve(str(run["id"]), None, "alice@host")
    service.store.update_job(str(run["id"]), "ship", status="waiting")
    with pytest.raises(PipelineError, match="bob@host may not approve .*approvers: alice"):
        service.approve(str(run["id"]), None, "bob@host")
    assert service.approve(str(run["id"]), "ship", "alice@host") == ["ship"]
    assert service.store.job(str(run["id"]), "ship")["approved_by"] == "alice@host"
