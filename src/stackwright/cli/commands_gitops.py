"""``stackwright gitops …``: the daemon's GitOps mode (:mod:`stackwright.server.gitops`).

These are clients of the daemon's API: the project's own daemon (on loopback, as its user),
or the one at ``STACKWRIGHT_ADDR`` with ``STACKWRIGHT_TOKEN``, so an approval is made, and
audited, as the user the daemon authenticates."""

from typing import Annotated, Any

import typer

from stackwright.cli.main import Options, _options, emit_json, exit_with, printer, run

gitops_app = typer.Typer(help="GitOps: commits planned, applied or waiting for approval; drift.",
                         no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(gitops_app, name="gitops")
    for fn in (gitops_status, gitops_approve, gitops_sync, gitops_drift):
        gitops_app.command(name=fn.__name__.removeprefix("gitops_"))(fn)


def _call(opts: Options, method: str, path: str) -> Any:
    """The daemon's JSON answer; a refusal ends the command with its message and hint."""
    import os

    import httpx

    from stackwright.errors import StackwrightError

    addr = os.environ.get("STACKWRIGHT_ADDR", "").rstrip("/")
    if not addr:
        from stackwright.cli.main import engine
        from stackwright.server.rundir import RunDir

        eng = engine(opts)
        info = RunDir.of(eng.root, eng.environment).read_info()
        if info is None:
            raise StackwrightError("no daemon runs for this project and environment",
                                   hint="start it with `stackwright up`, or set "
                                        "STACKWRIGHT_ADDR and STACKWRIGHT_TOKEN")
        addr = str(info["api"])
    token = os.environ.get("STACKWRIGHT_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        resp = httpx.request(method, addr + path, headers=headers, timeout=120,
                             verify=os.environ.get("STACKWRIGHT_CA") or True)
    except httpx.HTTPError as exc:
        raise StackwrightError(f"cannot reach the daemon at {addr}: {exc}",
                               hint="check STACKWRIGHT_ADDR, or `stackwright status`") from exc
    doc = resp.json() if resp.headers.get("content-type", "").startswith("application/json") \
        else {}
    if resp.status_code >= 400:
        message = doc.get("error") or doc.get("detail") or resp.reason_phrase
        raise StackwrightError(f"the daemon refused ({resp.status_code}): {message}",
                               hint=doc.get("hint") or "see `stackwright gitops status`")
    return doc


def _line(run_: dict[str, Any]) -> str:
    summary = run_.get("summary") or {}
    counts = ", ".join(f"{v} {k}" for k, v in summary.items() if v) or "no changes"
    who = f" approved by {run_['approved_by']}" if run_.get("approved_by") else ""
    return (f"  {run_['commit'][:12]}  {run_['status']:<10} {counts:<28} "
            f"{run_.get('message', '')[:50]}{who}")


def gitops_status(ctx: typer.Context) -> None:
    """The repository watched, this environment's mode, recent commits and the last drift
    check."""
    opts = _options(ctx)

    def body() -> None:
        doc = _call(opts, "GET", "/api/v1/gitops")
        if opts.json:
            emit_json(doc)
            return
        out = printer(opts)
        out.line(f"GitOps: {doc['repo']} ({doc['branch']}), mode {doc['mode']}, at "
                 f"{(doc.get('commit') or 'no commit yet')[:12]}")
        if doc.get("error"):
            out.line(out.paint(f"  last poll failed: {doc['error']}", "red"))
        for run_ in doc.get("runs") or []:
            out.line(_line(run_))
        drift = doc.get("drift")
        if drift:
            out.line(f"  drift: {drift['status']} ({len(drift['changes'])} change(s)) at "
                     f"{drift['commit'][:12]}")

    run(opts, body)


def gitops_approve(
    ctx: typer.Context,
    commit: Annotated[str, typer.Argument(help="The waiting commit (a sha or a prefix).")],
) -> None:
    """Apply a commit's waiting plan (an operator of the environment)."""
    opts = _options(ctx)

    def body() -> None:
        doc = _call(opts, "POST", f"/api/v1/gitops/runs/{commit}/approve")
        if opts.json:
            emit_json(doc)
        else:
            printer(opts).line(f"Approved {doc['commit'][:12]}: applying as operation "
                               f"{doc['operation']} (follow with `stackwright gitops status`)")

    run(opts, body)


def gitops_sync(ctx: typer.Context) -> None:
    """Poll the repository now."""
    opts = _options(ctx)
    run(opts, lambda: _print(opts, _call(opts, "POST", "/api/v1/gitops/sync"), "Polling now"))


def gitops_drift(ctx: typer.Context) -> None:
    """Check drift now against the last applied commit (exit 2 when something drifted)."""
    opts = _options(ctx)

    def body() -> None:
        doc = _call(opts, "POST", "/api/v1/gitops/drift")
        changes = doc.get("changes") or []
        _print(opts, doc, f"Drift: {doc.get('status', 'nothing applied yet')}, "
                          f"{len(changes)} change(s)")
        for change in changes if not opts.json else []:
            printer(opts).line(f"  {change['action']} {change['address']}")
        if doc.get("drifted"):
            exit_with(2)

    run(opts, body)


def _print(opts: Options, doc: dict[str, Any], text: str) -> None:
    if opts.json:
        emit_json(doc)
    else:
        printer(opts).line(text)
