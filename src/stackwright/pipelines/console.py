"""The pipelines in the web console, through the ``stackwright.console_panels`` hook.

- ``Pipeline runs`` on the overview and on a page of its own (``/console/pipelines/``, in
  the navigation): recent runs, each linking to its page, refreshed every few seconds;
- a run's page (``/console/pipelines/runs/RUN``): its jobs and steps, live logs (a job's log
  is re-read every second while the run goes on), an Approve button on each job waiting for
  a protected environment, and its artifacts to download (expired ones say so).

The pages are the console's own (its layout, session and CSRF token: htmx sends the token
from the page's ``hx-headers`` on every post); the fragments are served by the routes below,
mounted with the pipelines API. Approve posts to ``/console/pipelines/runs/RUN/approvals``,
which approves as the session's user exactly as ``POST /api/v1/pipelines/runs/RUN/approvals``
does (:meth:`PipelineService.approve`, the same role check and audit) and answers with the
refreshed jobs and a message, a refusal included (as an alert: htmx swaps only 2xx answers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import DictLoader, Environment, select_autoescape
from starlette.concurrency import run_in_threadpool

from stackwright.errors import StackwrightError
from stackwright.server.console.panels import ConsolePanel, PanelView

if TYPE_CHECKING:
    from stackwright.pipelines.service import PipelineService
    from stackwright.server.app import PlatformContext

LIVE = ("queued", "running")
RUNS = """\
<div id="pl-runs" hx-get="/console/pipelines/fragments/runs" hx-trigger="every 3s"
 hx-swap="outerHTML"><div class="wrap"><table>
<thead><tr><th scope="col">Run</th><th scope="col">Status</th><th scope="col">Trigger</th>
<th scope="col" class="hide-narrow">Ref</th><th scope="col" class="hide-narrow">Commit</th>
<th scope="col">Took</th></tr></thead><tbody>
{% for r in runs %}<tr data-run="{{ r.id }}">
<td><a href="/console/pipelines/runs/{{ r.id }}">{{ r.pipeline }}#{{ r.number }}</a></td>
<td class="{{ r.status }} {{ r.status|tone }}">{{ r.status }}{% if r.waiting %}
 · waiting for approval{% endif %}</td>
<td>{{ r.trigger }}</td><td class="hide-narrow">{{ r.ref }}</td>
<td class="hide-narrow"><code>{{ r.sha[:10] }}</code></td>
<td>{% if r.duration_s is not none %}{{ "%.1f"|format(r.duration_s) }} s{% endif %}</td></tr>
{% else %}<tr><td colspan="6" class="muted">No pipeline runs yet.</td></tr>{% endfor %}
</tbody></table></div></div>"""
JOBS = """\
<div id="pl-jobs"{% if live %} hx-get="/console/pipelines/runs/{{ run.id }}/jobs"
 hx-trigger="every 2s" hx-swap="outerHTML"{% endif %}>
{% if message %}<p role="alert" class="{{ 'ok' if ok else 'bad' }}">{{ message }}</p>{% endif %}
<p>Run <code>{{ run.id }}</code>:
 <strong class="{{ run.status }} {{ run.status|tone }}" id="pl-run-status">{{ run.status
 }}</strong> · {{ run.trigger }} · {{ run.ref }}</p>
<div class="wrap"><table><thead><tr><th scope="col">Job</th><th scope="col">Status</th>
<th scope="col">Steps</th><th scope="col" class="hide-narrow">Took</th></tr></thead><tbody>
{% for j in run.jobs %}<tr data-job="{{ j.name }}">
<td>{{ j.name }}{% if j.environment %}
 <span class="muted">→ {{ j.environment }}</span>{% endif %}</td>
<td class="{{ j.status }} {{ j.status|tone }}">{{ j.status }}{% if j.approved_by %}
 <span class="muted">(approved by {{ j.approved_by }})</span>{% endif %}
{% if j.status == "waiting" %}<br><button hx-post="/console/pipelines/runs/{{ run.id
 }}/approvals?job={{ j.name|urlencode }}" hx-target="#pl-jobs" hx-swap="outerHTML"
 aria-label="Approve {{ j.name }}">Approve</button>
 <span class="muted">needs {{ j.needed }} in {{ j.environment }}</span>{% endif %}
{% if j.error %}<br><span class="muted">{{ j.error }}</span>{% endif %}</td>
<td>{% for s in j.steps %}<span class="{{ s.status|tone }}">{{ s.name }}</span>{%
 if not loop.last %} · {% endif %}{% endfor %}</td>
<td class="hide-narrow">{% if j.duration_s is not none %}{{ "%.1f"|format(j.duration_s)
 }} s{% endif %}</td></tr>{% endfor %}
</tbody></table></div></div>"""
RUN = """\
{{ jobs|safe }}
<h3>Logs</h3>
{% for j in run.jobs %}<details{% if j.status in ("running", "failed") %} open{% endif %}>
<summary>{{ j.name }}</summary>{{ logs[j.name]|safe }}</details>{% endfor %}
<h3>Artifacts</h3>
<ul>{% for a in run.artifacts %}<li>{% if a.expired %}{{ a.job }}: {{ a.size }} bytes,
 <span class="muted">expired at {{ a.expires_at }}</span>{% else %}
<a href="/api/v1/pipelines/runs/{{ run.id }}/artifacts/{{ a.job|urlencode }}" download>{{
 a.job }}</a> ({{ a.size }} bytes, kept until {{ a.expires_at }}){% endif %}</li>
{% else %}<li class="muted">No artifacts.</li>{% endfor %}</ul>"""
LOG = """\
<pre class="pl-log" data-job="{{ job }}"{% if live %}
 hx-get="/console/pipelines/runs/{{ run_id }}/logs/{{ job|urlencode }}" hx-trigger="every 1s"
 hx-swap="outerHTML"{% endif %}>{{ text or "(no output yet)" }}</pre>"""
TEMPLATES = Environment(loader=DictLoader({"runs": RUNS, "jobs": JOBS, "run": RUN, "log": LOG}),
                        autoescape=select_autoescape(default=True, default_for_string=True))
# The console's stylesheet colours these classes; a status keeps its own class too.
TEMPLATES.filters["tone"] = lambda status: {
    "success": "ok", "failed": "bad", "cancelled": "bad", "interrupted": "bad",
    "running": "running", "waiting": "running", "queued": "running"}.get(status, "")
LOG_TAIL = 200_000  # characters of a log shown (the end of it)


def _service(ctx: Any) -> PipelineService:
    from stackwright.pipelines.service import PipelineService

    return PipelineService(ctx.engine)


def runs_html(service: PipelineService, limit: int = 20) -> str:
    from stackwright.pipelines.cli_support import run_doc

    rows = []
    for r in service.store.runs(None, limit=limit):
        waiting = r["status"] == "running" and any(
            j["status"] == "waiting" for j in service.store.jobs(r["id"]))
        rows.append({**run_doc(r), "waiting": waiting})
    return TEMPLATES.get_template("runs").render(runs=rows)


def jobs_html(service: PipelineService, run_ref: str, message: str = "",
              ok: bool = True) -> str:
    from stackwright.pipelines.approvals import needed_role
    from stackwright.pipelines.cli_support import run_detail

    doc = run_detail(service.store, service.store.run(run_ref))
    settings = dict(service.engine.config.settings)
    for job in doc["jobs"]:
        job["needed"] = needed_role(job["environment"] or "", settings)
    return TEMPLATES.get_template("jobs").render(run=doc, live=doc["status"] in LIVE,
                                                 message=message, ok=ok)


def log_html(service: PipelineService, run: Mapping[str, Any], job: str) -> str:
    from stackwright.pipelines.cli_support import logs_dir

    path = logs_dir(service, run["id"]) / f"{job}.log"
    text = path.read_text(errors="replace")[-LOG_TAIL:] if path.is_file() else ""
    return TEMPLATES.get_template("log").render(job=job, run_id=run["id"], text=text,
                                                live=run["status"] in LIVE)


def run_html(service: PipelineService, run_ref: str) -> str:
    from stackwright.pipelines.cli_support import run_detail

    run = service.store.run(run_ref)
    doc = run_detail(service.store, run)
    logs = {j["name"]: log_html(service, run, j["name"]) for j in doc["jobs"]}
    return TEMPLATES.get_template("run").render(jobs=jobs_html(service, run["id"]), run=doc,
                                                logs=logs)


def _render_runs(view: PanelView) -> str:
    service = _service(view.ctx)
    if not service.declared():  # no pipeline: the project's database is left alone
        return ('<p class="muted">No Pipeline in the spec (see docs/pipelines.md).</p>')
    return runs_html(service)


def _render_run(view: PanelView) -> str:
    return run_html(_service(view.ctx), str(view.address))


RUNS_PANEL = ConsolePanel(name="pipelines", title="Pipeline runs", render=_render_runs,
                          pages=("overview", "pipelines"),
                          nav=("Pipelines", "/console/pipelines/"))
RUN_PANEL = ConsolePanel(name="pipeline-run", title="Jobs", render=_render_run,
                         pages=("pipeline-run",))


def mount_console(app: Any, ctx: PlatformContext, service: PipelineService) -> None:
    """The pipelines' console pages and fragments, under ``/console/pipelines/``."""
    app.include_router(console_router(service, ctx.access), prefix="/console/pipelines")


def console_router(service: PipelineService, access: Any = None) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    async def runs_page(request: Request) -> HTMLResponse:
        console = request.app.state.console
        panels = await run_in_threadpool(console.panels_for, request, "pipelines")
        page: HTMLResponse = console.page(request, "list.html", "Pipelines", panels=panels)
        return page

    @router.get("/runs/{run_id}")
    async def run_page(run_id: str, request: Request) -> HTMLResponse:
        console = request.app.state.console
        try:
            run = await run_in_threadpool(service.store.run, run_id)
        except StackwrightError as exc:
            page: HTMLResponse = console.page(request, "list.html", "Pipeline run", 404,
                                              intro=str(exc))
            return page
        panels = await run_in_threadpool(console.panels_for, request, "pipeline-run",
                                         run["id"])
        title = f"Pipeline {run['pipeline']}#{run['number']}"
        found: HTMLResponse = console.page(request, "list.html", title, panels=panels)
        return found

    _fragment_routes(router, service, access)
    return router


def _fragment_routes(router: APIRouter, service: PipelineService, access: Any) -> None:
    @router.get("/fragments/runs")
    async def runs_fragment() -> HTMLResponse:
        return HTMLResponse(await run_in_threadpool(runs_html, service))

    @router.get("/runs/{run_id}/jobs")
    async def jobs_fragment(run_id: str) -> HTMLResponse:
        return HTMLResponse(await run_in_threadpool(jobs_html, service, run_id))

    @router.get("/runs/{run_id}/logs/{job}")
    async def log_fragment(run_id: str, job: str) -> HTMLResponse:
        run = await run_in_threadpool(service.store.run, run_id)
        return HTMLResponse(await run_in_threadpool(log_html, service, run, job))

    @router.post("/runs/{run_id}/approvals")
    async def approve(run_id: str, request: Request, job: str | None = None) -> HTMLResponse:
        from stackwright.pipelines.approvals import from_principal
        from stackwright.server.access.guard import principal_of

        approver = from_principal(access, principal_of(request))
        try:
            done = await run_in_threadpool(service.approve, run_id, job, approver)
        except StackwrightError as exc:
            return HTMLResponse(await run_in_threadpool(jobs_html, service, run_id, str(exc),
                                                        False))
        text = f"Approved {', '.join(done)} as {approver.name}."
        return HTMLResponse(await run_in_threadpool(jobs_html, service, run_id, text))
