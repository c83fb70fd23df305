"""``stackwright slo rules|status`` and ``stackwright alerts``. Only typer is imported here;
the observe domain is imported inside each command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

slo_app = typer.Typer(help="Service level objectives: generated rules, status.",
                      no_args_is_help=True)
SERVICE = typer.Argument(help="Only the SLOs of this service.")


def register(app: typer.Typer) -> None:
    app.add_typer(slo_app, name="slo")
    app.command("alerts")(alerts)
    app.command("logs")(logs)


@slo_app.command("rules")
def rules(ctx: typer.Context, service: Annotated[str | None, SERVICE] = None) -> None:
    """Print the Prometheus rule files the spec's SLOs compile to (Sloth's names and
    labels), as Prometheus loads them; -o json gives one object per SLO."""
    from stackwright.cli.main import _options, emit_json, engine, printer, run

    opts = _options(ctx)

    def body() -> None:
        from stackwright.observe.views import compiled_slos

        found = compiled_slos(engine(opts), service)
        if opts.json:
            emit_json({"slos": found})
            return
        out = printer(opts)
        if not found:
            out.line("no SLO declared" + (f" for service {service}" if service else ""))
        for doc in found:
            out.line(f"# --- {doc['path']}")
            out.line(doc["rules"].rstrip("\n"))

    run(opts, body)


def _listing(ctx: typer.Context, key: str, rows_of: Callable[[Any], list[dict[str, Any]]],
             render: Callable[[list[dict[str, Any]]], list[str]]) -> None:
    """Rows computed from the engine: ``{key: rows}`` with -o json, else rendered lines."""
    from stackwright.cli.main import _options, emit_json, engine, printer, run

    opts = _options(ctx)

    def body() -> None:
        rows = rows_of(engine(opts))
        if opts.json:
            emit_json({key: rows})
            return
        out = printer(opts)
        for line in render(rows):
            out.line(line)

    run(opts, body)


@slo_app.command("status")
def status(ctx: typer.Context, service: Annotated[str | None, SERVICE] = None) -> None:
    """SLI now, objective, error budget remaining for the period, burn rate per window and
    alerts firing, read from the managed Prometheus (`stackwright up` starts it)."""
    from stackwright.observe import views

    _listing(ctx, "slos", lambda eng: views.slo_status(eng, service), views.render_slo_status)


def alerts(
    ctx: typer.Context,
    firing: Annotated[bool, typer.Option("--firing", help="Only alerts firing now.")] = False,
    since: Annotated[str | None, typer.Option(
        "--since", help="Only notifications received in this period: 10m, 2h, 7d.")] = None,
) -> None:
    """Alert notifications the daemon received from Alertmanager (firing and resolved),
    newest first, with their labels, annotations, times and fingerprints."""
    from stackwright.observe import views

    _listing(ctx, "alerts", lambda eng: views.alert_rows(eng, firing=firing, since=since),
             views.render_alerts)


def logs(
    ctx: typer.Context,
    service: Annotated[str | None, typer.Argument(help="The service (or other resource) "
                                                  "whose containers' lines to show.")] = None,
    since: Annotated[str | None, typer.Option(help="From: 10m, 2h ago or an ISO time.")] = None,
    until: Annotated[str | None, typer.Option(help="Up to: 5m ago or an ISO time.")] = None,
    grep: Annotated[str | None, typer.Option(help="Only lines holding this text "
                                             "(case-insensitive).")] = None,
    level: Annotated[str | None, typer.Option(help="This level and above: debug, info, "
                                              "warn, error, fatal.")] = None,
    revision: Annotated[str | None, typer.Option(help="Only this revision's replicas.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="The newest N lines.")] = 1000,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines "
                                         "(JSON: one object a line).")] = False,
) -> None:
    """Lines the daemon collected from containers' stdout and stderr (JSON lines parsed
    into level, message and trace id; delivered secrets masked)."""
    from stackwright.cli.main import _options, emit_json, engine, printer, run

    opts = _options(ctx)

    def body() -> None:
        import json
        import time
        from dataclasses import replace

        from stackwright.observe.logview import make_query, render_line, store_for

        eng = engine(opts)
        query = make_query(service, since=since, until=until, grep=grep, level=level,
                           revision=revision, limit=limit)
        store = store_for(eng)
        rows = store.query(query)
        if opts.json and not follow:
            emit_json({"lines": rows})
            return
        out = printer(opts)

        def show(batch: list[dict[str, object]]) -> None:
            for row in batch:
                if opts.json:
                    opts.out.write(json.dumps(row) + "\n")
                else:
                    out.line(render_line(row))
            opts.out.flush()

        show(rows)
        if not rows and not follow and not opts.json:
            out.line("no log lines match")
        last = int(rows[-1]["id"]) if rows else 0
        while follow:
            time.sleep(0.5)
            batch = store.query(replace(query, after_id=last, newest=False, limit=5000))
            show(batch)
            last = int(batch[-1]["id"]) if batch else last

    run(opts, body)
