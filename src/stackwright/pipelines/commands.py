"""``stackwright pipeline …``: run, watch, cancel, re-run and approve pipeline runs.

Registered through the ``stackwright.commands`` entry point; the pipelines package is
imported inside each command only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from stackwright.cli.main import _options, emit_json, engine, printer, run

pipeline_app = typer.Typer(help="CI/CD pipelines: run, logs, list, show, cancel, rerun, "
                           "approve, artifacts, validate.", no_args_is_help=True)
RUN_ARG = typer.Argument(help="Run id (or a unique prefix, or PIPELINE#NUMBER).")


def register(app: typer.Typer) -> None:
    app.add_typer(pipeline_app, name="pipeline")


def _service(ctx: typer.Context) -> Any:
    from stackwright.pipelines.service import PipelineService

    return PipelineService(engine(_options(ctx)))


@pipeline_app.command("run")
def run_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The Pipeline's name.")],
    ref: Annotated[str | None, typer.Option(help="Branch, tag or sha (default: its branch).")]
    = None,
    sha: Annotated[str | None, typer.Option(help="The commit, when the caller knows it.")]
    = None,
    trigger: Annotated[str, typer.Option(help="Recorded as the run's trigger.")] = "manual",
    detach: Annotated[bool, typer.Option(help="Queue it and return at once.")] = False,
) -> None:
    """Start a run. With a daemon running it queues the run there and follows it; without
    one it runs here, printing each job's result (exit 1 if the run fails)."""
    opts = _options(ctx)

    def body() -> None:
        from stackwright.pipelines import cli_support

        service = _service(ctx)
        queued = service.start(name, ref=ref, sha=sha, trigger=trigger)
        cli_support.carry_out(service, queued, opts, detach=detach)

    run(opts, body)


@pipeline_app.command("rerun")
def rerun_cmd(
    ctx: typer.Context, run_ref: Annotated[str, RUN_ARG],
    failed: Annotated[bool, typer.Option("--failed", help="Only the jobs that did not pass.")]
    = False,
    detach: Annotated[bool, typer.Option(help="Queue it and return at once.")] = False,
) -> None:
    """Run a finished run again: the same commit and definition."""
    opts = _options(ctx)

    def body() -> None:
        from stackwright.pipelines import cli_support

        service = _service(ctx)
        queued = service.rerun(run_ref, failed_only=failed)
        cli_support.carry_out(service, queued, opts, detach=detach)

    run(opts, body)


@pipeline_app.command("list")
def list_cmd(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Only this pipeline's runs.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
) -> None:
    """Recent runs: id, pipeline#number, status, trigger, ref, commit, duration."""
    opts = _options(ctx)

    def body() -> None:
        from stackwright.pipelines import cli_support

        runs = _service(ctx).store.runs(name, limit=limit)
        if opts.json:
            emit_json({"runs": [cli_support.run_doc(r) for r in runs]})
            return
        out = printer(opts)
        for r in runs:
            out.line(cli_support.run_line(r))
        if not runs:
            out.line("no runs yet (stackwright pipeline run NAME)")

    run(opts, body)


@pipeline_app.command("show")
def show_cmd(ctx: typer.Context, run_ref: Annotated[str, RUN_ARG]) -> None:
    """One run: its jobs, steps, durations, cache results, tests and artifacts."""
    opts = _options(ctx)

    def body() -> None:
        from stackwright.pipelines import cli_support

        service = _service(ctx)
        doc = cli_support.run_detail(service.store, service.store.run(run_ref))
        if opts.json:
            emit_json(doc)
        else:
            cli_support.print_detail(printer(opts), doc)

    run(opts, body)


@pipeline_app.command("logs")
def logs_cmd(
    ctx: typer.Context, run_ref: Annotated[str, RUN_ARG],
    job: Annotated[str | None, typer.Option(help="Only this job's log.")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the "
                                         "run ends.")] = False,
) -> None:
    """The logs of a run's jobs (secret values masked), live with --follow."""
    opts = _options(ctx)

    def body() -> None:
        from stackwright.pipelines import cli_support

        service = _service(ctx)
        cli_support.print_logs(service, service.store.run(run_ref), job, follow, opts)

    run(opts, body)


@pipeline_app.command("cancel")
def cancel_cmd(ctx: typer.Context, run_ref: Annotated[str, RUN_ARG]) -> None:
    """Stop a run: its running jobs' containers are removed, the rest cancelled."""
    opts = _options(ctx)

    def body() -> None:
        from stackwright.pipelines import cli_support

        service = _service(ctx)
        cancelled = service.cancel(run_ref)
        final = service.wait(cancelled["id"], timeout=120) \
            if cancelled["status"] == "running" else cancelled
        if opts.json:
            emit_json(cli_support.run_doc(final))
        else:
            printer(opts).line(f"run {final['id']}: {final['status']}")

    run(opts, body)


@pipeline_app.command("approve")
def approve_cmd(
    ctx: typer.Context, run_ref: Annotated[str, RUN_ARG],
    job: Annotated[str | None, typer.Option(help="Only this waiting job.")] = None,
    token: Annotated[str | None, typer.Option(
        help="Approve as this token's user (default: STACKWRIGHT_TOKEN when it is an swt_ "
             "token, else the local user).")] = None,
) -> None:
    """Let a job that waits on a protected environment go ahead. Deploying to a protected
    environment needs operator in that environment (developer elsewhere); the approver is
    recorded in the run and the audit log."""
    opts = _options(ctx)

    def body() -> None:
        import os

        from stackwright.pipelines.approvals import from_cli

        service = _service(ctx)
        given = token or os.environ.get("STACKWRIGHT_TOKEN", "")
        approver = from_cli(service.engine, given if given.startswith("swt_") else None)
        approved = service.approve(run_ref, job, approver)
        if opts.json:
            emit_json({"approved": approved, "by": approver.name})
        else:
            printer(opts).line(f"approved {', '.join(approved)} as {approver.name}")

    run(opts, body)


@pipeline_app.command("artifacts")
def artifacts_cmd(
    ctx: typer.Context, run_ref: Annotated[str, RUN_ARG],
    download: Annotated[Path | None, typer.Option(help="Extract them into this directory.")]
    = None,
    job: Annotated[str | None, typer.Option(help="Only this job's artifacts.")] = None,
) -> None:
    """The artifacts a run kept, each with its expiry; --download extracts those still kept
    (an expired one is an error naming when it expired)."""
    opts = _options(ctx)

    def body() -> None:
        from stackwright.pipelines.artifacts import expire_due, listing

        service = _service(ctx)
        expire_due(service.store)  # without a daemon, this is where expired files go
        doc = listing(service.store, service.store.run(run_ref), job, download)
        if opts.json:
            emit_json(doc)
            return
        out = printer(opts)
        for a in doc["artifacts"]:
            state = "expired" if a["expired"] else f"kept until {a['expires_at']}"
            out.line(f"{a['job']}: {a['size']} bytes, {state}" + (
                f" -> {a['extracted_to']}" if a.get("extracted_to") else ""))

    run(opts, body)


@pipeline_app.command("validate")
def validate_cmd(
    ctx: typer.Context,
    files: Annotated[list[Path] | None, typer.Argument(
        help="Pipeline files (default: .stackwright/pipelines/*.yaml here).")] = None,
) -> None:
    """Check pipeline files: every error at once as file:line:col: field: message."""
    opts = _options(ctx)

    def body() -> None:
        from stackwright.pipelines import cli_support

        names = cli_support.validate_files(opts.chdir, files or [])
        if opts.json:
            emit_json({"ok": True, "pipelines": names})
        else:
            printer(opts).line(f"{len(names)} pipeline(s) valid: {', '.join(names)}")

    run(opts, body)


@pipeline_app.command("work", hidden=True)
def work_cmd(ctx: typer.Context) -> None:
    """Run queued runs in this process until none is left (used without a daemon)."""
    opts = _options(ctx)

    def body() -> None:
        from stackwright.pipelines import cli_support

        cli_support.work(_service(ctx))

    run(opts, body)
