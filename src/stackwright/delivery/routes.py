"""``/api/v1/rollouts/…`` on the daemon: a service's rollout, its history, the commands
(promote, pause, resume, abort, undo) and a server-sent-events stream of its progress.

The commands are written into the rollout's record as the CLI's are; the process running the
rollout takes them within a quarter of a second. ``promote`` and ``abort`` need the
``operator`` role (the access guard asks it of every path ending in ``/promote`` or
``/abort``, and the routes ask again); the others ``developer``, reading ``viewer``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from stackwright.errors import PermanentError

if TYPE_CHECKING:
    from stackwright.delivery.records import RolloutRecord, RolloutStore
    from stackwright.server.app import PlatformContext

POLL = 0.25  # seconds between looks at the record while streaming
HEARTBEAT = 15.0


class MeasurementDoc(BaseModel):
    metric: str
    phase: str
    value: float | None
    detail: str
    at: str


class EventDoc(BaseModel):
    at: str
    what: str


class RolloutDoc(BaseModel):
    """A rollout record, as ``stackwright rollout status -o json`` prints it."""

    id: int
    project: str
    env: str
    service: str
    strategy: str
    stable: str
    revision: str
    state: str
    step: int
    steps: int
    weight: int
    message: str
    command: str | None
    runner_pid: int
    runner_host: str
    actor: str
    measurements: list[MeasurementDoc]
    events: list[EventDoc]
    started_at: str
    updated_at: str
    finished_at: str | None


class HistoryDoc(BaseModel):
    rollouts: list[RolloutDoc]


class CommandDoc(BaseModel):
    ok: bool
    command: str
    rollout: int
    service: str
    state: str


class Problem(BaseModel):
    detail: str


COMMAND_ROLES = {"promote": "operator", "abort": "operator", "pause": "developer",
                 "resume": "developer", "undo": "developer"}
ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": Problem}, 409: {"model": Problem}}


def mount(app: FastAPI, ctx: PlatformContext) -> None:
    app.include_router(router(ctx), prefix="/api/v1/rollouts")
    app.include_router(console_router(ctx), prefix="/console/rollouts",
                       include_in_schema=False)


def console_router(ctx: PlatformContext) -> APIRouter:
    """The console panel's live fragment (:mod:`stackwright.delivery.console`)."""
    api = APIRouter()
    store = _Lazy(ctx)
    project, env = ctx.engine.name, ctx.engine.environment

    @api.get("/{service}", response_class=HTMLResponse)
    async def panel(service: str, request: Request) -> HTMLResponse:
        from stackwright.delivery.console import fragment
        from stackwright.server.access.guard import principal_of

        record = await run_in_threadpool(store().latest, project, env, service)
        return HTMLResponse(fragment(service, record, principal_of(request)))

    return api


class _Lazy:
    """The rollout store, opened on first use (not at mount: the daemon starts faster)."""

    def __init__(self, ctx: PlatformContext) -> None:
        self.ctx = ctx
        self.store: RolloutStore | None = None

    def __call__(self) -> RolloutStore:
        if self.store is None:
            from stackwright.delivery.records import RolloutStore

            self.store = RolloutStore(self.ctx.engine.state_url)
        return self.store


def router(ctx: PlatformContext) -> APIRouter:
    api = APIRouter(tags=["rollouts"])
    store = _Lazy(ctx)
    project, env = ctx.engine.name, ctx.engine.environment

    def latest(service: str) -> RolloutRecord:
        record = store().latest(project, env, service)
        if record is None:
            raise HTTPException(404, f"Service/{service} has had no canary or blue/green "
                                     "rollout")
        return record

    @api.get("/{service}", response_model=RolloutDoc, responses=ERRORS,
             summary="The service's latest rollout: state, step, weight, measurements")
    async def status(service: str) -> dict[str, Any]:
        return (await run_in_threadpool(latest, service)).as_json()

    @api.get("/{service}/history", response_model=HistoryDoc,
             summary="Every canary and blue/green rollout of the service, oldest first")
    async def history(service: str) -> dict[str, Any]:
        rows = await run_in_threadpool(store().history, project, env, service)
        return {"rollouts": [r.as_json() for r in rows]}

    for command, role in COMMAND_ROLES.items():
        _command_route(api, store, project, env, command, role)

    @api.get("/{service}/events", summary="The rollout's progress as server-sent events",
             response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}}}, **ERRORS})
    async def events(service: str) -> StreamingResponse:
        first = await run_in_threadpool(latest, service)
        return StreamingResponse(stream(store, first), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    return api


def _command_route(api: APIRouter, store: Callable[[], RolloutStore], project: str, env: str,
                   command: str, role: str) -> None:
    from stackwright.server.access.guard import require

    def send(service: str, who: str) -> dict[str, Any]:
        try:
            record = store().request(project, env, service, command, by=who)
        except PermanentError as exc:
            raise HTTPException(409, str(exc)) from exc
        return {"ok": True, "command": command, "rollout": record.id, "service": service,
                "state": record.state}

    allowed = Depends(require(role))

    async def endpoint(service: str, who: Any = allowed) -> dict[str, Any]:
        result: dict[str, Any] = await run_in_threadpool(send, service,
                                                         f"{who.name} through the API")
        return result

    api.add_api_route(f"/{{service}}/{command}", endpoint, methods=["POST"],
                      response_model=CommandDoc, responses=ERRORS, name=f"rollout_{command}",
                      summary=f"{command.capitalize()} the service's live rollout "
                              f"({role} role)")


async def stream(store: Callable[[], RolloutStore], first: RolloutRecord
                 ) -> AsyncIterator[str]:
    """The record each time it changes (``event: rollout``), until it is no longer active;
    comments as heartbeats."""
    seen, quiet = "", 0.0
    record: RolloutRecord | None = first
    while record is not None:
        if record.updated_at != seen:
            seen, quiet = record.updated_at, 0.0
            yield f"id: {record.id}:{seen}\nevent: rollout\ndata: " \
                  f"{json.dumps(record.as_json())}\n\n"
            if not record.active:
                yield "event: end\ndata: {}\n\n"
                return
        elif quiet >= HEARTBEAT:
            quiet = 0.0
            yield ": keep-alive\n\n"
        await asyncio.sleep(POLL)
        quiet += POLL
        record = await run_in_threadpool(_get, store, first.id)


def _get(store: Callable[[], RolloutStore], rollout_id: int) -> RolloutRecord | None:
    return store().get(rollout_id)
