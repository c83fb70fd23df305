"""``stackwright rollout status|promote|pause|resume|abort|undo|history SERVICE``.

They read and write the rollout records in the state database, so they work from any
process while an ``apply`` (in a terminal or in the daemon) runs the rollout: the runner
takes the command within a quarter of a second. Only typer is imported here; the domain is
imported inside each command.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

rollout_app = typer.Typer(help="Progressive delivery: see and steer a service's rollout.",
                          no_args_is_help=True)
SERVICE = typer.Argument(help="The service's name (Service/NAME in the spec).")
COMMAND_HELP = {
    "promote": "Go on: end the current pause (a `pause: {}` gate, a manual or inconclusive "
               "pause), or switch a blue/green rollout waiting for promotion.",
    "pause": "Hold the rollout where it is (pauses stop their clock) until resume.",
    "resume": "Take back a pause (a `pause: {}` step still waits for promote).",
    "abort": "Send all traffic back to the stable revision and remove the new one.",
    "undo": "Blue/green within scaleDownDelay: switch back to the old revision at once "
            "(on a canary: the same as abort).",
}


def register(app: typer.Typer) -> None:
    app.add_typer(rollout_app, name="rollout")


def _context(ctx: typer.Context) -> tuple[Any, Any, Any]:
    from stackwright.cli.main import _options, engine
    from stackwright.delivery.records import RolloutStore

    opts = _options(ctx)
    eng = engine(opts)
    return opts, eng, RolloutStore(eng.state_url)


def _lines(record: Any) -> list[str]:
    lines = [f"rollout {record.id} of {record.service} ({record.strategy}): {record.state}",
             f"  revision {record.stable} -> {record.revision}, step {record.step}/"
             f"{record.steps}, {record.weight}% to the new revision",
             f"  {record.message}",
             f"  started {record.started_at} by {record.actor}"
             + (f", finished {record.finished_at}" if record.finished_at else "")]
    lines += [f"  measured {m['at']}: {m['metric']} {m['phase']} ({m['detail']})"
              for m in record.measurements[-5:]]
    return lines


@rollout_app.command("status")
def status(ctx: typer.Context, service: Annotated[str, SERVICE]) -> None:
    """The service's latest rollout: state, step, weight, last measurements."""
    from stackwright.cli.main import emit_json, printer, run
    from stackwright.errors import PermanentError

    opts, eng, store = _context(ctx)

    def body() -> None:
        record = store.latest(eng.name, eng.environment, service)
        if record is None:
            raise PermanentError(f"Service/{service} has had no canary or blue/green rollout",
                                 hint="rolling updates are in `stackwright state history`")
        if opts.json:
            emit_json(record.as_json())
            return
        out = printer(opts)
        for line in _lines(record):
            out.line(line)

    run(opts, body)


@rollout_app.command("history")
def history(ctx: typer.Context, service: Annotated[str, SERVICE]) -> None:
    """Every canary and blue/green rollout of the service, oldest first, with its events."""
    from stackwright.cli.main import emit_json, printer, run

    opts, eng, store = _context(ctx)

    def body() -> None:
        records = store.history(eng.name, eng.environment, service)
        if opts.json:
            emit_json([r.as_json() for r in records])
            return
        out = printer(opts)
        for r in records:
            out.line(f"{r.id}  {r.started_at}  {r.strategy:9}  {r.stable} -> {r.revision}  "
                     f"{r.state}: {r.message}")
            for e in r.events:
                out.line(f"      {e['at']}  {e['what']}")

    run(opts, body)


def _request(ctx: typer.Context, service: str, command: str) -> None:
    from stackwright.cli.main import emit_json, printer, run

    opts, eng, store = _context(ctx)

    def body() -> None:
        from stackwright.core.engine import actor

        record = store.request(eng.name, eng.environment, service, command, by=actor())
        if opts.json:
            emit_json({"ok": True, "command": command, "rollout": record.id,
                       "service": service})
            return
        printer(opts).line(f"{command} sent to rollout {record.id} of {service} "
                           f"({record.state}); its apply acts on it at once")

    run(opts, body)


def _command(name: str) -> None:
    def command(ctx: typer.Context, service: Annotated[str, SERVICE]) -> None:
        _request(ctx, service, name)

    command.__doc__ = COMMAND_HELP[name]
    rollout_app.command(name)(command)


for _name in COMMAND_HELP:
    _command(_name)
