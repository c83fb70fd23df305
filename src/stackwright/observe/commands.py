"""``stackwright slo rules|status`` and ``stackwright alerts``. Only typer is imported here;
the observe domain is imported inside each command."""

from __future__ import annotations

from typing import Annotated

import typer

slo_app = typer.Typer(help="Service level objectives: generated rules, status.",
                      no_args_is_help=True)
SERVICE = typer.Argument(help="Only the SLOs of this service.")


def register(app: typer.Typer) -> None:
    app.add_typer(slo_app, name="slo")


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
