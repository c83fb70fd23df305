"""The platform API under ``/api/v1``: what the CLI does, over HTTP, behind the access guard.

``plan`` (read-only, or saved to apply exactly), ``operations`` (apply and destroy as
resources to poll or stream), ``drift``, ``state`` (resources, history), ``audit`` and
``graph``. Each request loads the project afresh, so an edited spec is what is planned.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from stackwright.errors import LockError, SpecErrors, StackwrightError, StalePlanError
from stackwright.server.access.guard import principal_of
from stackwright.server.operations import Operation, Operations, cli_apply_runner, sse

if TYPE_CHECKING:
    from stackwright.core.engine import Engine
    from stackwright.server.app import PlatformContext

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "the spec or the request cannot be done (errors name file, line, "
                         "field and a hint)"},
    401: {"description": "not authenticated"}, 403: {"description": "not allowed"},
    404: {"description": "no such object"}, 409: {"description": "locked, stale or busy"}}


class PlanRequest(BaseModel):
    destroy: bool = False
    refresh: bool = True


class OperationRequest(BaseModel):
    action: Literal["apply", "destroy"] = "apply"
    plan_id: str | None = Field(None, pattern=r"^[0-9a-f]{16}$",
                                description="A plan saved with POST /api/v1/plans: applied "
                                            "exactly, refused when state changed since.")
    output: Literal["text", "json"] = "text"
    parallelism: int = Field(10, ge=1, le=64)
    lock_timeout: float = Field(0.0, ge=0, le=600)


def mount_api(app: FastAPI, ctx: PlatformContext) -> None:
    app.state.operations = ctx.operations = Operations()
    router = APIRouter(prefix="/api/v1", responses=ERRORS)
    _plan_routes(router, ctx)
    _operation_routes(router, ctx, app.state.operations)
    _record_routes(router, ctx)
    _cli_routes(router, ctx)
    _cli_run_route(router, ctx)
    app.include_router(router)

    @app.exception_handler(StackwrightError)
    async def stackwright_error(_request: Request, exc: StackwrightError) -> JSONResponse:
        status = 409 if isinstance(exc, LockError | StalePlanError) else 400
        errors = [str(e) for e in exc.errors] if isinstance(exc, SpecErrors) else [str(exc)]
        return JSONResponse({"error": type(exc).__name__, "errors": errors,
                             "hint": getattr(exc, "hint", None)}, status_code=status)


def fresh_engine(ctx: PlatformContext) -> Engine:
    from stackwright.core.engine import Engine

    daemon = ctx.engine
    return Engine(daemon.root, environment=daemon.environment, state_url=daemon.state_url)


def _plans_dir(ctx: PlatformContext) -> Path:
    from stackwright.server.rundir import RunDir

    path = RunDir.of(ctx.engine.root, ctx.engine.environment).root / "plans"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _plan_routes(router: APIRouter, ctx: PlatformContext) -> None:
    @router.get("/plan", summary="What apply would change (nothing is saved)")
    def plan(destroy: bool = False, refresh: bool = True) -> dict[str, Any]:
        return _make_plan(ctx, destroy, refresh, save=False)

    @router.post("/plans", status_code=201, summary="Make and save a plan to apply exactly")
    def save_plan(body: PlanRequest) -> dict[str, Any]:
        return _make_plan(ctx, body.destroy, body.refresh, save=True)

    @router.get("/drift", summary="What changed outside Stackwright")
    def drift() -> dict[str, Any]:
        from stackwright.core.planfile import change_to_json

        eng = fresh_engine(ctx)
        try:
            changes = eng.drift()
        finally:
            eng.close()
        return {"drifted": bool(changes), "changes": [change_to_json(c) for c in changes]}

    @router.get("/graph", summary="The resource graph: nodes and dependency edges")
    def graph() -> dict[str, Any]:
        eng = fresh_engine(ctx)
        declared = eng.project.declared
        return {"nodes": [{"address": str(a), "kind": a.kind, "name": a.name}
                          for a in sorted(declared)],
                "edges": [{"from": str(a), "to": str(dep)} for a in sorted(declared)
                          for dep in sorted(declared[a].depends_on)]}


def _make_plan(ctx: PlatformContext, destroy: bool, refresh: bool, save: bool
               ) -> dict[str, Any]:
    from stackwright.core.planfile import plan_to_json, write_plan

    eng = fresh_engine(ctx)
    try:
        made = eng.plan(destroy=destroy, refresh=refresh)
        doc = plan_to_json(made)
        if save:
            plan_id = secrets.token_hex(8)
            write_plan(made, _plans_dir(ctx) / f"{plan_id}.plan", eng.cipher)
            doc["plan_id"] = plan_id
    finally:
        eng.close()
    return doc


def _operation_routes(router: APIRouter, ctx: PlatformContext, ops: Operations) -> None:
    @router.post("/operations", status_code=202, summary="Start an apply or destroy")
    def start(body: OperationRequest, request: Request) -> dict[str, Any]:
        who = principal_of(request)
        if ops.running() is not None:
            raise HTTPException(409, "an operation runs already; wait for it or cancel it")
        plan_file = None
        if body.plan_id is not None:
            plan_file = _plans_dir(ctx) / f"{body.plan_id}.plan"
            if not plan_file.exists():
                raise HTTPException(404, f"no saved plan {body.plan_id}")
        eng = ctx.engine
        runner = cli_apply_runner(eng.root, eng.environment, eng.state_url,
                                  destroy=body.action == "destroy", plan_file=plan_file,
                                  parallelism=body.parallelism, lock_timeout=body.lock_timeout)
        return ops.start(body.action, who.actor, body.output, runner).to_json()

    @router.get("/operations", summary="Recent operations, newest first")
    def listing() -> list[dict[str, Any]]:
        return [op.to_json() for op in ops.list()]

    @router.get("/operations/{op_id}", summary="One operation with its events so far")
    def one(op_id: str) -> dict[str, Any]:
        return _operation(ops, op_id).to_json(events=True)

    @router.post("/operations/{op_id}/cancel", summary="Start no further action")
    def cancel(op_id: str) -> dict[str, Any]:
        op = _operation(ops, op_id)
        op.cancel.set()
        return op.to_json()

    @router.get("/operations/{op_id}/events", summary="The operation's events (SSE)",
                response_class=StreamingResponse)
    def events(op_id: str, request: Request) -> StreamingResponse:
        op = _operation(ops, op_id)
        last = request.headers.get("last-event-id", "-1")
        after = int(last) if last.lstrip("-").isdigit() else -1
        return StreamingResponse(sse(op, after), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache"})


def _operation(ops: Operations, op_id: str) -> Operation:
    op = ops.get(op_id)
    if op is None:
        raise HTTPException(404, f"no operation {op_id}")
    return op


def _cli_routes(router: APIRouter, ctx: PlatformContext) -> None:
    @router.get("/cli/{command}", summary="Run a read-only CLI command here, as the remote "
                                         "CLI does: its exact output and exit code")
    def cli(command: Literal["plan", "validate"], output: Literal["text", "json"] = "text",
            color: Literal["always", "never"] = "never", destroy: bool = False,
            refresh: bool = True, detailed_exitcode: bool = False) -> dict[str, Any]:
        return run_cli_command(ctx, command, output=output, color=color, destroy=destroy,
                               refresh=refresh, detailed=detailed_exitcode)


class CliRunRequest(BaseModel):
    argv: list[str] = Field(min_length=1, max_length=64,
                            description="The command line after `stackwright`, as typed")
    color: Literal["always", "never"] = "never"


def _cli_run_route(router: APIRouter, ctx: PlatformContext) -> None:
    @router.post("/cli/run", summary="Run a CLI command on the daemon (remote CLI): its "
                 "output and exit code as JSON lines, streamed",
                 response_class=StreamingResponse,
                 responses={200: {"content": {"application/x-ndjson": {}},
                                  "description": 'lines {"o": text}, {"e": text}, then '
                                                 '{"exit": code}'}})
    def cli_run(body: CliRunRequest, request: Request) -> Response:
        from stackwright.server.access.roles import at_least, protected_environments
        from stackwright.server.cli_runs import CliRefused, command_of, needed_role

        who = principal_of(request)
        eng = ctx.engine
        try:
            needed = needed_role(body.argv, eng.environment,
                                 protected_environments(eng.config.settings))
        except CliRefused as exc:
            return _refused(exc.status, str(exc), exc.hint)
        command = command_of(body.argv)
        if not at_least(who.role, needed):
            return _refused(403, f"{who.name} is {who.role or 'not granted a role'} in "
                                 f"{eng.environment}; `{command}` needs {needed}",
                            "an admin grants roles with `stackwright user grant`")
        return StreamingResponse(_cli_stream(ctx, body, who.actor, command),
                                 media_type="application/x-ndjson",
                                 headers={"cache-control": "no-cache"})


def _refused(status: int, error: str, hint: str) -> JSONResponse:
    return JSONResponse({"error": error, "hint": hint}, status_code=status)


async def _cli_stream(ctx: PlatformContext, body: CliRunRequest, actor: str, command: str
                      ) -> Any:
    import json

    from stackwright.server.app import audit
    from stackwright.server.cli_runs import child_argv, child_environ, stream_command

    eng = ctx.engine
    if ctx.log is not None:
        ctx.log("cli.remote", command=command, actor=actor)
    code: int | None = None
    try:
        async for line in stream_command(child_argv(eng.root, eng.environment, body.argv,
                                                    body.color),
                                         child_environ(actor), eng.root):
            if line.startswith(b'{"exit"'):
                code = int(json.loads(line)["exit"])
            yield line
    finally:
        await run_in_threadpool(audit, ctx, actor, "cli.remote",
                                {"command": command, "exit": code})


def run_cli_command(ctx: PlatformContext, command: str, *, output: str, color: str,
                    destroy: bool, refresh: bool, detailed: bool) -> dict[str, Any]:
    import io

    from stackwright.cli.options import Options, run
    from stackwright.cli.quick import plan_body, validate_body

    out, err = io.StringIO(), io.StringIO()
    eng = ctx.engine
    opts = Options(chdir=eng.root, environment=eng.environment, state=eng.state_url,
                   output=output, color=color, stdout=out, stderr=err)
    try:
        if command == "validate":
            run(opts, lambda: validate_body(opts))
            code = 0
        else:
            changes = run(opts, lambda: plan_body(opts, None, destroy, refresh, 10))
            code = 2 if detailed and changes else 0
    except (SystemExit, RuntimeError) as exc:  # the CLI's exit (typer.Exit: a RuntimeError)
        found = getattr(exc, "exit_code", getattr(exc, "code", 1))
        code = found if isinstance(found, int) else 1
    return {"stdout": out.getvalue(), "stderr": err.getvalue(), "exit_code": code}


def _record_routes(router: APIRouter, ctx: PlatformContext) -> None:
    @router.get("/state/resources", summary="Recorded resources")
    def resources() -> list[dict[str, Any]]:
        snap = ctx.engine.snapshot()
        return [{"address": str(a), "id": r.id, "status": r.status.value}
                for a, r in sorted(snap.resources.items())]

    @router.get("/state/history", summary="Every apply, destroy and repair, oldest first")
    async def history() -> list[dict[str, Any]]:
        eng = ctx.engine
        runs = await run_in_threadpool(eng.store.history, eng.name, eng.environment)
        return [{"serial": r.serial, "operation": r.operation, "actor": r.actor,
                 "started_at": r.started_at, "finished_at": r.finished_at,
                 "status": r.status, "summary": dict(r.summary)} for r in runs]

    @router.get("/audit", summary="The audit log, newest first")
    async def audit(limit: Annotated[int, Query(ge=1, le=10_000)] = 100
                    ) -> list[dict[str, Any]]:
        eng = ctx.engine
        entries = await run_in_threadpool(eng.store.audit_entries, project=eng.name)
        return [{"seq": e.seq, "time": e.time, "actor": e.actor, "action": e.action,
                 "env": e.env, "data": dict(e.data), "hash": e.hash}
                for e in reversed(entries[-limit:])]

    @router.get("/audit/verify", summary="Re-check the audit log's hash chain")
    async def verify() -> dict[str, Any]:
        report = await run_in_threadpool(ctx.engine.store.audit_verify)
        return {"ok": report.ok, "entries": report.entries, "problems": report.problems}
