"""The pipelines console fragments: runs, a run's jobs with the Approve button and the role
it needs, live logs escaped, artifacts expired or to download."""

from __future__ import annotations

import time
from pathlib import Path

from stackwright.core.engine import Engine
from stackwright.pipelines.cli_support import logs_dir
from stackwright.pipelines.console import jobs_html, log_html, run_html, runs_html
from stackwright.pipelines.dag import expand
from stackwright.pipelines.model import PipelineDef
from stackwright.pipelines.service import PipelineService

DEFINITION = {"environments": {"prod": {"approval": True}},
              "jobs": {"build": {"host": True, "steps": [{"run": "true"}]},
                       "ship": {"host": True, "environment": "prod", "needs": ["build"],
                                "steps": [{"run": "true"}]}}}


def _service(tmp_path: Path) -> tuple[PipelineService, str]:
    (tmp_path / "stackwright.yaml").write_text("project: p\n")
    service = PipelineService(Engine(tmp_path))
    run = service.store.create_run(
        "ci", trigger="manual", ref="refs/heads/main", sha="abc123", definition=DEFINITION,
        source="ci.yaml", group=None, jobs=expand(PipelineDef.model_validate(DEFINITION)))
    run_id = str(run["id"])
    service.store.claim(run_id, "host:1")
    service.store.update_job(run_id, "build", status="success")
    service.store.update_job(run_id, "ship", status="waiting")
    return service, run_id


def test_a_waiting_job_gets_an_approve_button_naming_the_role(tmp_path: Path) -> None:
    service, run_id = _service(tmp_path)
    runs = runs_html(service)
    assert f'href="/console/pipelines/runs/{run_id}">ci#1</a>' in runs
    assert "waiting for approval" in runs
    jobs = jobs_html(service, run_id, "dana is developer in prod", ok=False)
    assert f'hx-post="/console/pipelines/runs/{run_id}/approvals?job=ship"' in jobs
    assert "needs operator in prod" in jobs and 'aria-label="Approve ship"' in jobs
    assert jobs.count("Approve</button>") == 1, "only the waiting job"
    assert '<p role="alert" class="bad">dana is developer in prod</p>' in jobs
    assert 'hx-trigger="every 2s"' in jobs, "a live run refreshes"
    service.store.update_run(run_id, status="success")
    assert "hx-trigger" not in jobs_html(service, run_id), "an ended run does not poll"


def test_logs_are_escaped_and_artifacts_say_when_they_expire(tmp_path: Path) -> None:
    service, run_id = _service(tmp_path)
    folder = logs_dir(service, run_id)
    folder.mkdir(parents=True)
    (folder / "build.log").write_text("12:00:00 <script>alert(1)</script>\n")
    run = service.store.run(run_id)
    log = log_html(service, run, "build")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in log and "<script>" not in log
    assert 'hx-trigger="every 1s"' in log
    tarball = tmp_path / "a.tar"
    tarball.write_bytes(b"x")
    service.store.add_artifact(run_id, "build", str(tarball), 1, 3600)
    service.store.add_artifact(run_id, "ship", str(tarball), 1, 1)
    service.store.mark_expired(run_id, "ship", time.time())
    page = run_html(service, run_id)
    assert f'href="/api/v1/pipelines/runs/{run_id}/artifacts/build" download' in page
    assert "ship: 1 bytes" in page and "expired at" in page
