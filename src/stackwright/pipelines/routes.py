"""``/api/v1/pipelines/…`` on the daemon: runs, their jobs and logs, artifacts to download,
cancel, approve, re-run, and the GitHub/GitLab push webhook."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from stackwright.errors import StackwrightError, StateError

if TYPE_CHECKING:
    from stackwright.pipelines.service import PipelineService
    from stackwright.pipelines.store import RunStore
    from stackwright.server.app import PlatformContext


def _guard(call: Any, *args: Any, **kwargs: Any) -> Any:
    from stackwright.pipelines.approvals import ApprovalRefused
    from stackwright.pipelines.artifacts import ArtifactExpired

    try:
        return call(*args, **kwargs)
    except ArtifactExpired as exc:
        raise HTTPException(410, str(exc)) from exc
    except ApprovalRefused as exc:
        raise HTTPException(403, str(exc)) from exc
    except StateError as exc:
        raise HTTPException(404, str(exc)) from exc
    except StackwrightError as exc:
        raise HTTPException(400, str(exc)) from exc


def mount(app: FastAPI, ctx: PlatformContext) -> None:
    from stackwright.pipelines.console import mount_console
    from stackwright.pipelines.service import PipelineService

    service = PipelineService(ctx.engine)
    app.include_router(router(service, ctx.access), prefix="/api/v1/pipelines")
    mount_console(app, ctx, service)


def router(service: PipelineService, access: Any = None) -> APIRouter:
    from stackwright.pipelines import cli_support

    api = APIRouter(tags=["pipelines"])

    def store() -> RunStore:  # opened on first use, not at mount
        return service.store

    @api.get("/runs")
    async def runs(pipeline: str | None = None,
                   limit: int = Query(50, ge=1, le=1000)) -> dict[str, Any]:
        rows = await run_in_threadpool(store().runs, pipeline, limit)
        return {"runs": [cli_support.run_doc(r) for r in rows]}

    @api.get("/runs/{run_id}")
    async def show(run_id: str) -> dict[str, Any]:
        def detail() -> dict[str, Any]:
            return cli_support.run_detail(store(), store().run(run_id))

        result: dict[str, Any] = await run_in_threadpool(_guard, detail)
        return result

    @api.get("/runs/{run_id}/logs/{job}", response_class=PlainTextResponse)
    async def logs(run_id: str, job: str) -> str:
        run = await run_in_threadpool(_guard, store().run, run_id)
        path = cli_support.logs_dir(service, run["id"]) / f"{job}.log"
        if not path.is_file():
            raise HTTPException(404, f"no log for job {job!r} of run {run['id']}")
        return path.read_text(errors="replace")

    @api.get("/runs/{run_id}/artifacts")
    async def artifact_list(run_id: str) -> dict[str, Any]:
        from stackwright.pipelines.artifacts import listing

        def found() -> dict[str, Any]:
            return listing(store(), store().run(run_id), None, None)

        result: dict[str, Any] = await run_in_threadpool(_guard, found)
        return result

    @api.get("/runs/{run_id}/artifacts/{job}")
    async def artifact(run_id: str, job: str) -> FileResponse:
        from stackwright.pipelines.artifacts import usable

        run = await run_in_threadpool(_guard, store().run, run_id)
        row = await run_in_threadpool(_guard, usable, store(), run["id"], job)
        return FileResponse(row["path"], filename=f"{run['id']}-{job}.tar",
                            media_type="application/x-tar")

    @api.post("/{name}/runs")
    async def start(name: str, ref: str | None = None) -> dict[str, Any]:
        run = await run_in_threadpool(_guard, service.start, name, ref=ref, trigger="api")
        return cli_support.run_doc(run)

    @api.post("/runs/{run_id}/cancel")
    async def cancel(run_id: str) -> dict[str, Any]:
        return cli_support.run_doc(await run_in_threadpool(_guard, service.cancel, run_id))

    @api.post("/runs/{run_id}/approvals")
    async def approve(run_id: str, request: Request, job: str | None = None) -> dict[str, Any]:
        """Approve the run's waiting jobs (or ``job``) as the request's principal: a job
        deploying to a protected environment needs operator in that environment."""
        from stackwright.pipelines.approvals import from_principal
        from stackwright.server.access.guard import principal_of

        approver = from_principal(access, principal_of(request))
        approved = await run_in_threadpool(_guard, service.approve, run_id, job, approver)
        return {"approved": approved, "by": approver.name}

    @api.post("/runs/{run_id}/rerun")
    async def rerun(run_id: str, failed: bool = False) -> dict[str, Any]:
        run = await run_in_threadpool(_guard, service.rerun, run_id, failed_only=failed)
        return cli_support.run_doc(run)

    @api.post("/{name}/webhook")
    async def webhook(name: str, request: Request) -> dict[str, Any]:
        body = await request.body()
        return await run_in_threadpool(_webhook, service, name, dict(request.headers), body)

    return api


def _webhook(service: PipelineService, name: str, headers: dict[str, str], body: bytes
             ) -> dict[str, Any]:
    from stackwright.pipelines.triggers import WebhookError, current_definition, parse_webhook

    definition = _guard(current_definition, service, name)
    if not definition.on.webhook:
        raise HTTPException(404, f"pipeline {name} does not accept webhooks (on.webhook)")
    secret = None
    if definition.on.webhookSecret:
        secret = _guard(service.runner_config().read_secret, definition.on.webhookSecret)
    try:
        push = parse_webhook(headers, body, secret)
    except WebhookError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    if push is None:
        return {"ok": True, "started": None, "note": "not a push event"}
    ref, sha = push
    from stackwright.pipelines.triggers import ref_matches

    if definition.on.push is not None and not ref_matches(definition.on.push, ref):
        return {"ok": True, "started": None, "note": f"{ref} does not match on.push"}
    run = _guard(service.start, name, ref=ref, sha=sha, trigger="webhook")
    return {"ok": True, "started": run["id"]}
