"""``stackwright``: the command line. Each command is a thin layer over the engine.

Every command takes the global options (``-C DIR``, ``--env``, ``--state``, ``--var``,
``--output json``) and maps errors to exit codes: 0 success, 1 error, 2 (with
``--detailed-exitcode`` or ``drift``) changes found.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Annotated

import typer

from stackwright.cli.options import (
    Options,
    emit_json,
    engine,
    exit_with,
    fail,
    leave,
    printer,
    run,
)

# Re-exported: the command modules (the core's and the domains') import them from here.
__all__ = ["Options", "app", "emit_json", "engine", "exit_with", "fail", "leave", "main",
           "printer", "register_domain_commands", "run"]

app = typer.Typer(
    name="stackwright",
    help="Stackwright: infrastructure from one declarative spec — plan, apply, drift.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
state_app = typer.Typer(help="Inspect and edit recorded state.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(state_app, name="state")
app.add_typer(audit_app, name="audit")


def _options(ctx: typer.Context) -> Options:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Options) else Options()


def _parse_vars(values: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"--var takes NAME=VALUE, got {item!r}")
        out[name] = value
    return out


@app.callback()
def main_options(
    ctx: typer.Context,
    chdir: Annotated[Path, typer.Option("-C", "--chdir", help="Project directory.")] = Path("."),
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="Environment (default: the project's).")
    ] = None,
    state: Annotated[
        str | None,
        typer.Option("--state", help="State database URL (or STACKWRIGHT_STATE).",
                     envvar="STACKWRIGHT_STATE"),
    ] = None,
    var: Annotated[
        list[str] | None, typer.Option("--var", help="Set a variable: NAME=VALUE (repeatable).")
    ] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="text or json.", case_sensitive=False)
    ] = "text",
    color: Annotated[str, typer.Option(help="auto, always or never.")] = "auto",
) -> None:
    """Stackwright: plan, apply and keep infrastructure as one spec says."""
    if output not in ("text", "json"):
        raise typer.BadParameter("--output takes text or json")
    ctx.obj = Options(chdir, env, state, _parse_vars(var), output.lower(), color)


def register_commands() -> None:
    from stackwright.cli import (
        commands_access,
        commands_core,
        commands_gitops,
        commands_secrets,
        commands_server,
        commands_state,
    )

    commands_core.register(app)
    commands_access.register(app)
    commands_gitops.register(app)
    commands_state.register(state_app, audit_app, app)
    commands_server.register(app)
    commands_secrets.register(app)
    register_domain_commands(app)


COMMANDS_GROUP = "stackwright.commands"


def register_domain_commands(target: typer.Typer) -> None:
    """Domain packages add their commands through the ``stackwright.commands`` entry-point
    group: each names a ``register(app: typer.Typer) -> None``. A register function imports
    only typer at module level and its domain lazily inside each command, so that ``--help``
    and the core commands do not pay for every domain's imports."""
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        ep.load()(target)


_GLOBAL_WITH_VALUE = {"-C", "--chdir", "--env", "-e", "--state", "--var", "--output", "-o",
                      "--color"}


def hoist_global_options(argv: list[str]) -> list[str]:
    """Let global options stand anywhere (``stackwright plan -o json``) by moving them in
    front of the command, where the command group reads them."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name = arg.split("=", 1)[0]
        if arg == "--":
            rest.extend(argv[i:])
            break
        if name in _GLOBAL_WITH_VALUE:
            takes_next = "=" not in arg and i + 1 < len(argv)
            front.extend(argv[i : i + 2] if takes_next else [arg])
            i += 2 if takes_next else 1
            continue
        rest.append(arg)
        i += 1
    return front + rest


def main() -> None:
    # A command is short-lived and builds thousands of small objects that all live to its
    # end: collecting the youngest generation every 700 allocations only costs time.
    gc.set_threshold(100_000, 50, 100)
    register_commands()
    try:
        app(args=hoist_global_options(sys.argv[1:]), prog_name="stackwright")
    except SystemExit as exc:
        leave(exc.code)
    leave(0)
