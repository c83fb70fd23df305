"""The observe domain's API on the daemon, under ``/api/v1/observe/``:

- ``GET metrics``: the daemon's own metrics (Prometheus text format);
- ``POST alertmanager``: Alertmanager's webhook receiver (payload version 4);
- ``GET alerts?firing=true&since=10m``: the notifications received;
- ``GET logs?service=web&since=10m&grep=timeout&level=error&revision=…&after_id=…``: the
  collected log lines (``after_id`` gives the lines stored after it, for following);
- ``GET logs/events?…``: the same query followed, as server-sent events (one ``line``
  event per line, its id the line's; ``Last-Event-ID`` resumes);
- ``GET slos?service=web``: each SLO's status (``stackwright slo status``);
- ``GET slos/rules?service=web``: the rule files SLOs compile to (``stackwright slo rules``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.responses import PlainTextResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from stackwright.durations import period
from stackwright.observe.api_models import LogLines, SloRulesList, SloStatusList, finite

if TYPE_CHECKING:
    from stackwright.server.app import PlatformContext


def mount(app: FastAPI, ctx: PlatformContext) -> None:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from stackwright.observe.metrics import ApiMetrics, platform_registry
    from stackwright.observe.notifications import NotificationStore, PayloadError

    registry = platform_registry(ctx)
    ApiMetrics(registry).install(app)
    engine = ctx.engine
    store = NotificationStore(engine.state_url, engine.name, engine.environment)
    router = APIRouter(prefix="/api/v1/observe")

    @router.get("/metrics", response_class=PlainTextResponse,
                summary="The daemon's own metrics, in Prometheus' text format")
    async def metrics() -> Response:
        body = await run_in_threadpool(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @router.post("/alertmanager")
    async def receive(request: Request) -> dict[str, Any]:
        try:
            payload = await request.json()
            count = await run_in_threadpool(store.record, payload)
        except (ValueError, PayloadError) as exc:
            raise HTTPException(400, str(exc)) from exc
        if ctx.log is not None:
            ctx.log("observe.notification", alerts=count, status=payload.get("status"),
                    receiver=payload.get("receiver"))
        return {"recorded": count}

    @router.get("/alerts")
    async def alerts(firing: bool = False, since: str | None = None) -> dict[str, Any]:
        try:
            start = since_epoch(since)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc
        rows = await run_in_threadpool(lambda: store.query(since=start, firing=firing))
        return {"alerts": rows}

    _mount_logs(router, ctx)
    _mount_slos(router, ctx)
    app.include_router(router)
    _mount_console(app, ctx)


def since_epoch(since: str | None) -> float | None:
    import time

    return None if since is None else time.time() - period(since).total_seconds()


def _mount_logs(router: APIRouter, ctx: PlatformContext) -> None:
    engine = ctx.engine

    @router.get("/logs", response_model=LogLines)
    async def logs(service: str | None = None, since: str | None = None,
                   until: str | None = None, grep: str | None = None,
                   level: str | None = None, revision: str | None = None,
                   limit: int = 1000, after_id: int = 0) -> dict[str, Any]:
        from dataclasses import replace

        from stackwright.errors import StackwrightError
        from stackwright.observe.logview import make_query, store_for

        def run() -> list[dict[str, Any]]:
            query = make_query(service, since=since, until=until, grep=grep, level=level,
                               revision=revision, limit=max(1, min(limit, 10_000)))
            if after_id:
                query = replace(query, after_id=max(0, after_id), newest=False)
            store = store_for(engine)
            try:
                return store.query(query)
            finally:
                store.close()

        try:
            rows = await run_in_threadpool(run)
        except StackwrightError as exc:
            raise HTTPException(400, str(exc)) from exc
        return {"lines": rows}

    @router.get("/logs/events", response_class=StreamingResponse,
                responses={200: {"content": {"text/event-stream": {}}}},
                summary="Log lines as server-sent events, followed")
    async def log_events(request: Request, service: str | None = None,
                         grep: str | None = None, level: str | None = None,
                         revision: str | None = None, since: str | None = None,
                         after_id: int = 0) -> StreamingResponse:
        from stackwright.errors import StackwrightError
        from stackwright.observe.logview import follow_events, make_query

        resume = request.headers.get("last-event-id", "")
        try:
            query = make_query(service, since=since, grep=grep, level=level,
                               revision=revision, limit=200)
        except StackwrightError as exc:
            raise HTTPException(400, str(exc)) from exc
        start = int(resume) if resume.isdigit() else after_id
        return StreamingResponse(follow_events(engine, query, start, request.is_disconnected),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})


def _mount_slos(router: APIRouter, ctx: PlatformContext) -> None:
    from stackwright.errors import StackwrightError

    engine = ctx.engine

    @router.get("/slos/rules", response_model=SloRulesList)
    async def slo_rules(service: str | None = None) -> dict[str, Any]:
        from stackwright.observe.views import compiled_slos

        try:
            found = await run_in_threadpool(compiled_slos, engine, service)
        except StackwrightError as exc:
            raise HTTPException(400, str(exc)) from exc
        return {"slos": found}

    @router.get("/slos", response_model=SloStatusList,
                responses={503: {"description": "the managed Prometheus is not running"}})
    async def slo_status(service: str | None = None) -> dict[str, Any]:
        from stackwright.observe.views import slo_status

        comp = ctx.components.get("prometheus")
        doc = comp.status() if comp is not None else {}
        if doc.get("state") != "running":
            raise HTTPException(503, f"the daemon's Prometheus is not running: {doc}")
        try:
            rows = await run_in_threadpool(
                lambda: slo_status(engine, service, url=str(doc["url"])))
        except StackwrightError as exc:
            raise HTTPException(503, str(exc)) from exc
        return {"slos": finite(rows)}


def _mount_console(app: FastAPI, ctx: PlatformContext) -> None:
    """The fragments and the page the observe console panels link to."""
    from fastapi.responses import HTMLResponse

    from stackwright.observe import console

    router = APIRouter(prefix="/console/observe", include_in_schema=False)

    @router.get("/logs")
    async def logs_fragment(service: str, grep: str | None = None,
                            level: str | None = None) -> HTMLResponse:
        body = await run_in_threadpool(console.logs_fragment, ctx, service, grep, level)
        return HTMLResponse(body)

    @router.get("/alerts")
    async def alerts_page(request: Request) -> HTMLResponse:
        from stackwright.server.console.panels import Rendered

        body = await run_in_threadpool(console.render_alert_history, ctx)
        page = request.app.state.console
        return page.page(request, "list.html", "Alerts",  # type: ignore[no-any-return]
                         intro="Every notification Alertmanager sent the daemon, newest "
                         "first (firing and resolved).",
                         panels=[Rendered("Notifications", body)])

    app.include_router(router)
