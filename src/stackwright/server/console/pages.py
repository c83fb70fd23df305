"""The console's pages: overview, resource, plan (with apply), history, drift, audit, graph,
and log in / out."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from stackwright.server.access.guard import SESSION_COOKIE, principal_of
from stackwright.server.access.roles import at_least, deploy_role
from stackwright.server.access.routes import attempt_login, set_session_cookie
from stackwright.server.console.graph_svg import render_svg
from stackwright.server.console.panels import PanelRegistry, PanelView

if TYPE_CHECKING:
    from stackwright.server.app import PlatformContext

HERE = Path(__file__).parent


class Console:
    """The pages' shared state: templates, panels, the daemon's context."""

    def __init__(self, ctx: PlatformContext, panels: PanelRegistry) -> None:
        self.ctx = ctx
        self.panels = panels
        self.templates = Environment(loader=FileSystemLoader(HERE / "templates"),
                                     autoescape=select_autoescape(["html"]))

    def page(self, request: Request | None, template: str, title: str, status: int = 200,
             **values: Any) -> HTMLResponse:
        who = principal_of(request) if request is not None and _has_principal(request) \
            else None
        eng = self.ctx.engine
        body = self.templates.get_template(template).render(
            title=title, project=eng.name, environment=eng.environment,
            user=who.name if who else None, role=who.role if who else None,
            csrf=who.csrf if who else None, extra_nav=self.panels.nav(), **values)
        return HTMLResponse(body, status_code=status)

    def panels_for(self, request: Request, page: str, address: str | None = None) -> Any:
        return self.panels.render(PanelView(self.ctx, page, principal_of(request), address))


def _has_principal(request: Request) -> bool:
    return "principal" in request.scope.get("state", {})


def mount_pages(app: FastAPI, ctx: PlatformContext) -> None:
    console = Console(ctx, PanelRegistry.from_entry_points())
    app.state.console = console
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
    router = APIRouter(prefix="/console", include_in_schema=False)
    _login_routes(router, console)
    _view_routes(router, console)
    _operation_routes(router, console)
    app.include_router(router)


def _login_routes(router: APIRouter, console: Console) -> None:
    @router.get("/login")
    def login_form() -> HTMLResponse:
        return console.page(None, "login.html", "Log in")

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode(errors="replace"))
        user = (form.get("username") or [""])[0]
        password = (form.get("password") or [""])[0]
        guard = request.scope["state"]["guard"]
        outcome = await attempt_login(guard, console.ctx.access, request, user, password,
                                      via="console")
        if outcome.retry_after:
            return console.page(None, "login.html", "Log in", 429,
                                error="Too many failed attempts. Wait a minute and try again.")
        if outcome.session is None:
            return console.page(None, "login.html", "Log in", 401,
                                error="Wrong user name or password.")
        response = RedirectResponse("/console/", status_code=303)
        set_session_cookie(response, outcome.session, guard.settings.tls)
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        sid = request.cookies.get(SESSION_COOKIE)
        if sid:
            await run_in_threadpool(console.ctx.access.end_session, sid)
        response = Response(status_code=200, headers={"HX-Redirect": "/console/login"})
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response


def _view_routes(router: APIRouter, console: Console) -> None:
    ctx = console.ctx

    @router.get("/")
    async def overview(request: Request) -> HTMLResponse:
        from stackwright.server.status import resource_rows

        rows = await run_in_threadpool(resource_rows, ctx.engine)
        runs = await run_in_threadpool(_runs, ctx, 10)
        return console.page(request, "overview.html", "Overview", resources=rows, runs=runs,
                            healthy=sum(1 for r in rows if r.get("health") == "healthy"),
                            environments=list(ctx.engine.config.environments),
                            panels=console.panels_for(request, "overview"))

    @router.get("/resources/{kind}/{name}")
    async def resource(kind: str, name: str, request: Request) -> HTMLResponse:
        from stackwright.server.status import resource_rows

        address = f"{kind}/{name}"
        rows = await run_in_threadpool(resource_rows, ctx.engine)
        row = next((r for r in rows if r["address"] == address), None)
        entries = [e for e in await run_in_threadpool(_audit, ctx, 2000)
                   if e["data"].get("address") == address][:20]
        return console.page(request, "resource.html", address, row=row, entries=entries,
                            outputs=(row or {}).get("outputs") or {},
                            panels=console.panels_for(request, "resource", address))

    @router.get("/plan")
    async def plan(request: Request) -> HTMLResponse:
        from stackwright.server.api import _make_plan

        doc = await run_in_threadpool(_make_plan, ctx, False, True, False)
        who = principal_of(request)
        needed = deploy_role(ctx.engine.environment,
                             request.scope["state"]["guard"].settings.protected)
        return console.page(request, "plan.html", "Plan", changes=_changes(doc),
                            summary=_summary(doc), empty="No changes: everything matches.",
                            can_apply=at_least(who.role, needed))

    @router.get("/history")
    async def history(request: Request) -> HTMLResponse:
        runs = await run_in_threadpool(_runs, ctx, 200)
        return console.page(request, "list.html", "Plans and applies", runs=runs,
                            panels=console.panels_for(request, "history"))

    @router.get("/drift")
    async def drift(request: Request) -> HTMLResponse:
        from stackwright.core.planfile import change_to_json

        changes = await run_in_threadpool(lambda: [change_to_json(c) for c in
                                                   _fresh(ctx).drift()])
        return console.page(request, "list.html", "Drift", changes=_changes(
            {"changes": changes}), empty="No drift: everything is as last applied.",
            panels=console.panels_for(request, "drift"))

    @router.get("/history/{serial}")
    async def run(serial: int, request: Request) -> HTMLResponse:
        entries = [e for e in await run_in_threadpool(_audit, ctx, 5000)
                   if e["action"].startswith("resource.") and e["data"].get("serial") == serial]
        changes = [{"address": e["data"].get("address"), "action": e["data"].get("action"),
                    "reason": f"by {e['actor']}", "diffs": [
                        {"path": d.get("path"), "before": _show(d.get("before")),
                         "after": _show(d.get("after"))} for d in e["data"].get("diffs") or []]}
                   for e in reversed(entries)]
        return console.page(request, "list.html", f"Run #{serial}", changes=changes,
                            empty="This run changed no resource.",
                            intro="What this run changed, field by field (sensitive values "
                                  "masked).")

    @router.get("/gitops")
    async def gitops(request: Request) -> HTMLResponse:
        found: Any = ctx.components.get("gitops")
        on = found is not None and hasattr(found, "listing")
        doc = found.status() if on else None
        runs = found.listing() if on else []
        waiting = next((r for r in runs if r["status"] == "waiting"), None)
        plan = (found.run_doc(waiting["commit"]) or {}).get("plan") if waiting else None
        error = getattr(found, "error", None) if not on else None
        return console.page(request, "gitops.html", "GitOps", gitops=doc, runs=runs,
                            waiting=waiting, waiting_changes=_changes(plan or {}),
                            can_approve=at_least(principal_of(request).role, "operator"),
                            off=f"GitOps failed to start: {error}" if error else
                            "GitOps is not configured: set settings.gitops in "
                            "stackwright.yaml (docs/gitops.md).")

    @router.post("/gitops/{commit}/approve")
    async def gitops_approve(commit: str, request: Request) -> HTMLResponse:
        found = ctx.components.get("gitops")
        if found is None or not hasattr(found, "approve"):
            raise HTTPException(404, "GitOps is not configured")
        try:
            run = await run_in_threadpool(found.approve, commit, principal_of(request).actor)
        except (LookupError, ValueError) as exc:
            return HTMLResponse(f'<p class="bad" role="alert">{escape(str(exc))}</p>', 409)
        return _operation_fragment(console, request.app.state.operations.get(run["operation"]))

    @router.get("/audit")
    async def audit(request: Request) -> HTMLResponse:
        entries = await run_in_threadpool(_audit, ctx, 200)
        return console.page(request, "list.html", "Audit log", entries=entries)

    @router.get("/graph")
    async def graph(request: Request) -> HTMLResponse:
        declared = (await run_in_threadpool(lambda: _fresh(ctx).project)).declared
        edges = {str(a): [str(d) for d in sorted(declared[a].depends_on)]
                 for a in sorted(declared)}
        return console.page(request, "list.html", "Resource graph", svg=render_svg(edges),
                            intro=f"{len(edges)} resources.")


def _operation_routes(router: APIRouter, console: Console) -> None:
    ctx = console.ctx

    @router.post("/operations")
    async def start(request: Request) -> HTMLResponse:
        from stackwright.server.operations import cli_apply_runner

        ops = request.app.state.operations
        if ops.running() is not None:
            return HTMLResponse('<p class="bad">An operation runs already.</p>', 409)
        eng = ctx.engine
        runner = cli_apply_runner(eng.root, eng.environment, eng.state_url, destroy=False,
                                  plan_file=None, parallelism=10, lock_timeout=0.0)
        op = ops.start("apply", principal_of(request).actor, "text", runner)
        return _operation_fragment(console, op)

    @router.get("/operations/{op_id}")
    async def show(op_id: str, request: Request) -> HTMLResponse:
        op = request.app.state.operations.get(op_id)
        if op is None:
            raise HTTPException(404, "no such operation")
        return _operation_fragment(console, op)


def _operation_fragment(console: Console, op: Any) -> HTMLResponse:
    output = "".join(e["text"] for e in op.events if e["type"] == "output")
    body = console.templates.get_template("operation.html").render(op=op, output=output)
    return HTMLResponse(body)


def _fresh(ctx: PlatformContext) -> Any:
    from stackwright.server.api import fresh_engine

    return fresh_engine(ctx)


def _runs(ctx: PlatformContext, limit: int) -> list[dict[str, Any]]:
    eng = ctx.engine
    runs = eng.store.history(eng.name, eng.environment)
    ordered = sorted(runs, key=lambda r: r.serial, reverse=True)[:limit]
    return [{"serial": r.serial, "operation": r.operation, "actor": r.actor,
             "started_at": r.started_at, "status": r.status,
             "summary": dict(r.summary.get("counts", r.summary))} for r in ordered]


def _audit(ctx: PlatformContext, limit: int) -> list[dict[str, Any]]:
    eng = ctx.engine
    entries = eng.store.audit_entries(project=eng.name)[-limit:]
    return [{"seq": e.seq, "time": e.time, "actor": e.actor, "action": e.action,
             "data": dict(e.data)} for e in reversed(entries)]


def _changes(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for c in doc.get("changes", []):
        diffs = [{"path": d.get("path"), "before": _show(d.get("before")),
                  "after": _show(d.get("after"))} for d in c.get("diffs") or []]
        if not diffs and isinstance(c.get("after"), dict):  # a create: every field is new
            diffs = [{"path": k, "before": "", "after": _show(v)}
                     for k, v in sorted(c["after"].items())]
        out.append({"address": c.get("address"), "action": c.get("action"),
                    "reason": c.get("reason"), "diffs": diffs})
    return [c for c in out if c["action"] != "noop"]


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _summary(doc: dict[str, Any]) -> str:
    counts = doc.get("summary") or {}
    if not counts:
        return ""
    return ", ".join(f"{v} to {k}" for k, v in counts.items())
