"""``stackwright backup …`` and ``stackwright drill …``: run, list and restore backups, run
drills and show their history. Every command takes ``--output json``.

Only typer is imported here; the domain is imported inside each command.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from stackwright.cli.main import Options
    from stackwright.recover.platform import Platform

backup_app = typer.Typer(help="Back up, list and restore what a BackupPolicy covers.",
                         no_args_is_help=True)
drill_app = typer.Typer(help="Restore drills: prove a backup restores, measure RTO and RPO.",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(backup_app, name="backup")
    app.add_typer(drill_app, name="drill")


@contextmanager
def _platform(opts: Options) -> Iterator[Platform]:
    from stackwright.cli.main import engine
    from stackwright.recover.platform import Platform

    def progress(line: str) -> None:
        opts.err.write(f"  {line}\n")
        opts.err.flush()

    eng = engine(opts)
    platform = Platform(eng, progress)
    try:
        yield platform
    finally:
        platform.close()
        eng.close()


def _command(ctx: typer.Context, body: Callable[[Options, Platform], None]) -> None:
    from stackwright.cli.main import _options, run

    opts = _options(ctx)

    def wrapped() -> None:
        with _platform(opts) as platform:
            body(opts, platform)

    run(opts, wrapped)


def _emit(opts: Options, doc: Any, lines: list[str]) -> None:
    from stackwright.cli.main import emit_json, printer

    if opts.json:
        emit_json(doc, opts.out)
        return
    out = printer(opts)
    for line in lines:
        out.line(line)


def _failed(run: Any) -> None:
    from stackwright.errors import StackwrightError

    if run.status != "succeeded":
        raise StackwrightError(f"{run.kind} {run.name} failed: {run.reason}",
                               hint="see `stackwright backup list` and the reason above")


def _size(n: Any) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(n)


@backup_app.command("run")
def backup_run(ctx: typer.Context,
               policy: Annotated[str, typer.Argument(help="The BackupPolicy.")]) -> None:
    """Back up every source of POLICY now, then apply its retention."""
    def body(opts: Options, platform: Platform) -> None:
        from stackwright.recover.backup import apply_retention, run_policy

        run = run_policy(platform, policy)
        doc = run.to_json()
        if run.status == "succeeded":
            doc["retention"] = apply_retention(platform, policy).to_json()
        lines = [f"backup {policy}: {run.status} (run {run.id})"]
        lines += [f"  {s['source']}: snapshot {s['snapshot']}, {_size(s['bytes'])}, "
                  f"{_size(s['added'])} added" for s in doc.get("snapshots", [])]
        if run.status != "succeeded":
            lines.append(f"  reason: {run.reason}")
        _emit(opts, {"ok": run.status == "succeeded", **doc}, lines)
        if run.status != "succeeded":
            raise typer.Exit(1)

    _command(ctx, body)


@backup_app.command("list")
def backup_list(ctx: typer.Context, policy: Annotated[
        str | None, typer.Argument(help="One BackupPolicy (default: all).")] = None) -> None:
    """Snapshots: time, source, size, bytes added and the deduplication ratio."""
    def body(opts: Options, platform: Platform) -> None:
        from stackwright.recover.backup import listing

        names = [policy] if policy else sorted(platform.resources("BackupPolicy"))
        rows = [row for name in names for row in listing(platform, name)]
        lines = [f"{'ID':8}  {'TIME':24}  {'POLICY':12} {'SOURCE':22} {'SIZE':>10} "
                 f"{'ADDED':>10} {'DEDUP':>7}"]
        lines += [f"{r['id']:8}  {r['time'][:23]:24}  {r['policy']:12} "
                  f"{(r['source'] or '-') + (' (safety)' if r['safety'] else ''):22} "
                  f"{_size(r['size']):>10} {_size(r['added']):>10} "
                  f"{(str(r['dedup']) + 'x') if r['dedup'] is not None else '-':>7}"
                  for r in rows]
        _emit(opts, {"ok": True, "snapshots": rows}, lines)

    _command(ctx, body)


TARGET = typer.Option("--target", help="scratch: new instances next to the live ones; "
                                       "in-place: over the live ones, after a safety backup.")


@backup_app.command("restore")
def backup_restore(
    ctx: typer.Context,
    policy: Annotated[str, typer.Argument(help="The BackupPolicy.")],
    snapshot: Annotated[str | None, typer.Option("--snapshot", help="A snapshot or run id.")]
    = None,
    at: Annotated[str | None, typer.Option("--at", help="The newest backup at or before this "
                                                        "time (ISO 8601).")] = None,
    target: Annotated[str, TARGET] = "scratch",
    source: Annotated[str | None, typer.Option("--source", help="Only this source, e.g. "
                                                                "Database/db.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (in-place).")] = False,
) -> None:
    """Restore POLICY's newest backup (or --snapshot / --at) to scratch or in place."""
    def body(opts: Options, platform: Platform) -> None:
        from stackwright.errors import StackwrightError
        from stackwright.recover.records import Run, now_iso
        from stackwright.recover.restore import parse_time, restore_policy

        if target not in ("scratch", "in-place"):
            raise StackwrightError(f"--target {target}: not scratch or in-place",
                                   hint="--target scratch (default) or --target in-place")
        if snapshot and at:
            raise StackwrightError("give --snapshot or --at, not both")
        when = parse_time(at) if at else None
        if target == "in-place" and not yes and not _confirmed(opts, policy):
            raise StackwrightError("in-place restore not confirmed: nothing was changed",
                                   hint="pass --yes to restore in place")
        run = Run(kind="restore", name=policy)
        restored, safety = restore_policy(platform, policy, snapshot=snapshot, at=when,
                                          target=target, only=source)
        run.status, run.finished_at = "succeeded", now_iso()
        run.details = {"target": target, "safety_run": safety,
                       "restored": [r.to_json() for r in restored]}
        platform.records.save(run)
        lines = [f"restored {policy} ({target}, run {run.id})"]
        if safety:
            lines.append(f"  safety backup taken first: run {safety} "
                         f"(`stackwright backup restore {policy} --snapshot {safety} "
                         "--target in-place` undoes this restore)")
        for r in restored:
            where = ", ".join(f"{k}={v}" for k, v in r.to_json().items()
                              if k in ("host", "port", "database", "socket", "volume", "path",
                                       "passwordFile", "container"))
            lines.append(f"  {r.source} from {r.snapshot} ({r.time[:19]}): {where}")
        if target == "scratch":
            lines.append(f"  remove the scratch instances with `stackwright backup discard "
                         f"{run.id}`")
        _emit(opts, {"ok": True, **run.to_json()}, lines)

    _command(ctx, body)


def _confirmed(opts: Options, policy: str) -> bool:
    if opts.json:
        return False
    try:
        return typer.confirm(f"Restore {policy} in place over the live data? A safety backup "
                             "is taken first.", default=False, err=True)
    except typer.Abort:
        return False


@backup_app.command("discard")
def backup_discard(ctx: typer.Context,
                   run_id: Annotated[str, typer.Argument(help="The restore run.")]) -> None:
    """Stop and remove the scratch instances a `backup restore` left running."""
    def body(opts: Options, platform: Platform) -> None:
        from stackwright.errors import StackwrightError
        from stackwright.recover.restore import discard_handle

        found = [r for r in platform.records.list("restore", None, limit=10000)
                 if r.id == run_id]
        if not found:
            raise StackwrightError(f"no restore run {run_id}",
                                   hint="the id `backup restore` printed")
        removed = [item["scratch"] for item in found[0].details.get("restored", [])
                   if item.get("scratch")]
        for handle in removed:
            discard_handle(handle)
        _emit(opts, {"ok": True, "run": run_id, "removed": removed},
              [f"removed {len(removed)} scratch instance(s) of restore {run_id}"])

    _command(ctx, body)


@backup_app.command("check")
def backup_check(
    ctx: typer.Context,
    repository: Annotated[str, typer.Argument(help="The BackupRepository.")],
    read_data_subset: Annotated[str | None, typer.Option(
        "--read-data-subset", help="Also read this part of the data (10%, 1/5).")] = None,
) -> None:
    """`restic check` the repository now."""
    def body(opts: Options, platform: Platform) -> None:
        from stackwright.recover.checks import check_repository

        run = check_repository(platform, repository, read_data_subset)
        _emit(opts, {"ok": run.status == "succeeded", **run.to_json()},
              [f"check {repository}: {run.status}" +
               (f": {run.reason}" if run.reason else "")])
        if run.status != "succeeded":
            raise typer.Exit(1)

    _command(ctx, body)


@drill_app.command("run")
def drill_run(ctx: typer.Context,
              drill: Annotated[str, typer.Argument(help="The RestoreDrill.")]) -> None:
    """Restore the newest backup to scratch, verify it, record RTO and RPO."""
    def body(opts: Options, platform: Platform) -> None:
        from stackwright.recover.drills import run_drill

        run = run_drill(platform, drill)
        d = run.details
        lines = [f"drill {drill}: {run.status} (run {run.id})"]
        if "rto" in d:
            lines.append(f"  RTO {d['rto']:.1f}s, RPO {d['rpo']:.1f}s (objectives: rto "
                         f"{d['objectives'].get('rto') or '-'}, rpo "
                         f"{d['objectives'].get('rpo') or '-'}); {d['checks']} check(s)")
        if run.reason:
            lines.append(f"  reason: {run.reason}")
        _emit(opts, {"ok": run.status == "succeeded", **run.to_json()}, lines)
        if run.status != "succeeded":
            raise typer.Exit(1)

    _command(ctx, body)


@drill_app.command("history")
def drill_history(ctx: typer.Context, drill: Annotated[
        str | None, typer.Argument(help="One RestoreDrill (default: all).")] = None,
        limit: Annotated[int, typer.Option(help="Newest runs to show.")] = 20) -> None:
    """Past drills: RTO and RPO against the objectives, and why a failed one failed."""
    def body(opts: Options, platform: Platform) -> None:
        runs = platform.records.list("drill", drill, limit=limit)
        lines = [f"{'STARTED':24} {'DRILL':16} {'STATUS':10} {'RTO':>8} {'RPO':>9}  "
                 "OBJECTIVES / REASON"]
        for r in runs:
            d, o = r.details, r.details.get("objectives") or {}
            rto = f"{d['rto']:.1f}s" if "rto" in d else "-"
            rpo = f"{d['rpo']:.0f}s" if "rpo" in d else "-"
            note = r.reason or f"rto {o.get('rto') or '-'}, rpo {o.get('rpo') or '-'}"
            lines.append(f"{r.started_at[:23]:24} {r.name:16} {r.status:10} {rto:>8} "
                         f"{rpo:>9}  {note}")
        _emit(opts, {"ok": True, "runs": [r.to_json() for r in runs]}, lines)

    _command(ctx, body)
