"""plan, apply, destroy, drift, import, output, graph, validate, init, schema.

No ``from __future__ import annotations`` here: typer reads every command's annotations at
each start, and string annotations cost it a compile() apiece."""

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from stackwright.cli.main import Options, _options, emit_json, engine, printer, run
from stackwright.cli.quick import in_project, plan_body, validate_body

PARALLELISM = typer.Option("--parallelism", min=1, help="Actions run at once.")
LOCK_TIMEOUT = typer.Option("--lock-timeout", min=0.0, help="Seconds to wait for the lock.")
YES = typer.Option("--yes", "-y", help="Do not ask for confirmation.")
OVERRIDE = typer.Option("--override", metavar="REASON",
                        help="Apply despite soft-mandatory plan-check (policy) denials; the "
                             "reason is recorded in the audit log.")


def register(app: typer.Typer) -> None:
    for fn in (init, validate, plan, apply, destroy, drift, import_, output, graph, schema,
               version):
        name = fn.__name__.rstrip("_")
        app.command(name=name)(fn)


def init(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(help="Project name (default: the dir's).")] = None,
) -> None:
    """Scaffold a project (stackwright.yaml and an example) in the project directory."""
    opts = _options(ctx)

    def body() -> None:
        from stackwright.core.spec.scaffold import scaffold

        root = opts.chdir.resolve()
        root.mkdir(parents=True, exist_ok=True)
        written = scaffold(root, name or _slug(root.name))
        if opts.json:
            emit_json({"ok": True, "written": [str(p) for p in written]})
            return
        out = printer(opts)
        for path in written:
            out.line(f"  {out.paint('+', 'green')} {path}")
        out.line("Project created. Next: stackwright plan")

    run(opts, body)


def _slug(text: str) -> str:
    import re

    slug = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return slug or "project"


def validate(ctx: typer.Context) -> None:
    """Check the spec: structure, kinds, schema, references and cycles; report every error."""
    opts = _options(ctx)
    run(opts, lambda: validate_body(opts))


def plan(
    ctx: typer.Context,
    out_file: Annotated[Path | None, typer.Option("--out", help="Save the plan to apply it.")
                        ] = None,
    destroy: Annotated[bool, typer.Option("--destroy", help="Plan to destroy everything.")
                       ] = False,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 0: no changes, 2: changes, 1: error.")
    ] = False,
    refresh: Annotated[bool, typer.Option(help="Read live objects first.")] = True,
    parallelism: Annotated[int, PARALLELISM] = 10,
) -> None:
    """Show what apply would change: create, update, replace (and why) or destroy."""
    opts = _options(ctx)
    changes = run(opts, lambda: plan_body(opts, out_file, destroy, refresh, parallelism))
    if detailed_exitcode and changes:
        raise typer.Exit(2)


_in_project = in_project


def _confirm(opts: Options, verb: str) -> Any:
    from stackwright.cli.render import render_plan

    def confirm(plan: Any) -> bool:
        out = printer(opts)
        render_plan(plan, out)
        if not sys.stdin.isatty():
            from stackwright.errors import PlanError

            raise PlanError(f"{verb} needs confirmation and there is no terminal",
                            hint="pass --yes to proceed without asking")
        answer = typer.prompt(f"\nDo you want to {verb}? Only 'yes' will be accepted")
        return bool(answer.strip() == "yes")

    return confirm


def _apply(opts: Options, *, plan_file: Path | None, destroy: bool, yes: bool,
           parallelism: int, lock_timeout: float, refresh: bool = True,
           emit: bool = True, cancel: Any = None, override: str | None = None,
           who: str | None = None, observe: Any = None) -> None:
    """Plan or load, confirm, execute and report. With ``emit`` off, JSON mode prints
    nothing (a caller such as `up` prints its own document) but failures still raise. The
    daemon's API passes ``who`` (the actor it authenticated) and ``observe`` (called with
    every progress event as well)."""
    from stackwright.cli.render import ProgressPrinter, render_plan, render_result, result_to_json
    from stackwright.core.engine import require_changes_applied
    from stackwright.core.planfile import plan_to_json, read_plan

    eng = engine(opts)
    plan_path = _in_project(opts, plan_file)
    saved = read_plan(plan_path, eng.cipher) if plan_path is not None else None
    verb = "destroy" if destroy else "apply"
    confirm = None if (yes or saved is not None) else _confirm(opts, f"{verb} these changes")
    out = printer(opts)
    if saved is not None and not opts.json:
        render_plan(saved, out)
    on_event = (lambda e: None) if opts.json else ProgressPrinter(out)
    from stackwright.errors import PlanRefusedError

    if observe is not None:
        on_event = _both(on_event, observe)
    try:
        outcome = eng.apply(saved, destroy=destroy, parallelism=parallelism,
                            lock_timeout=lock_timeout, confirm=confirm, on_event=on_event,
                            refresh=refresh, cancel=cancel, override=override, who=who)
    except PlanRefusedError as exc:
        if not opts.json and exc.plan is not None:
            from stackwright.cli.render import render_checks

            # the diff (a saved plan's was shown already) and every check result
            (render_plan if saved is None else render_checks)(exc.plan, out)
        raise
    finally:
        eng.close()
    if outcome is None:
        if opts.json:
            emit_json({"ok": False, "cancelled": True}, opts.out)
        else:
            out.line(f"{verb.capitalize()} cancelled.")
        raise typer.Exit(1)
    if opts.json:
        if emit:
            emit_json({"ok": outcome.result.ok, "serial": outcome.serial,
                       "plan": plan_to_json(outcome.plan),
                       "result": result_to_json(outcome.result)}, opts.out)
    elif not outcome.plan.has_changes:
        render_plan(outcome.plan, out)
    else:
        if confirm is None and saved is None:  # --yes showed no plan: show what checks said
            from stackwright.cli.render import render_checks

            render_checks(outcome.plan, out)
        out.line()
        render_result(outcome.result, out, "Destroy" if destroy else "Apply")
    if not outcome.result.ok:
        if opts.json and emit:
            raise typer.Exit(1)
        require_changes_applied(outcome)


def _both(first: Any, second: Any) -> Any:
    def on_event(event: Any) -> None:
        first(event)
        second(event)

    return on_event


def apply(
    ctx: typer.Context,
    plan_file: Annotated[Path | None, typer.Argument(help="A plan saved with plan --out.")
                         ] = None,
    yes: Annotated[bool, YES] = False,
    parallelism: Annotated[int, PARALLELISM] = 10,
    lock_timeout: Annotated[float, LOCK_TIMEOUT] = 0.0,
    refresh: Annotated[bool, typer.Option(help="Read live objects first.")] = True,
    override: Annotated[str | None, OVERRIDE] = None,
    no_wait: Annotated[bool, typer.Option(
        "--no-wait", help="Return once a rollout is underway; the project's daemon carries "
                          "it on (needs `stackwright up`; follow it with `stackwright rollout "
                          "status SERVICE`).")] = False,
) -> None:
    """Make it so: plan (or take a saved plan), check, confirm, and execute in dependency
    order. A plan a mandatory plan check (policy) denies is refused before anything changes."""
    opts = _options(ctx)
    if no_wait:  # handed to a daemon, the CLI never gets here (cli.remote)
        run(opts, _no_daemon)
    run(opts, lambda: _apply(opts, plan_file=plan_file, destroy=False, yes=yes,
                             parallelism=parallelism, lock_timeout=lock_timeout,
                             refresh=refresh, override=override))


def _no_daemon() -> None:
    from stackwright.errors import StackwrightError

    raise StackwrightError(
        "apply --no-wait needs the project's daemon to carry the rollout on, and none runs "
        "for this project and environment (or the command could not be handed to it)",
        hint="start it with `stackwright up` (or `stackwright server`) and run "
             "`stackwright apply --yes --no-wait` again; without --no-wait the apply waits")


def destroy(
    ctx: typer.Context,
    yes: Annotated[bool, YES] = False,
    parallelism: Annotated[int, PARALLELISM] = 10,
    lock_timeout: Annotated[float, LOCK_TIMEOUT] = 0.0,
    override: Annotated[str | None, OVERRIDE] = None,
) -> None:
    """Destroy everything this project and environment manage, dependents first."""
    opts = _options(ctx)
    run(opts, lambda: _apply(opts, plan_file=None, destroy=True, yes=yes,
                             parallelism=parallelism, lock_timeout=lock_timeout,
                             override=override))


def drift(ctx: typer.Context, parallelism: Annotated[int, PARALLELISM] = 10) -> None:
    """Show what changed behind Stackwright's back; exit 2 when anything drifted."""
    opts = _options(ctx)

    def body() -> int:
        from stackwright.cli.render import render_drift
        from stackwright.core.planfile import change_to_json

        eng = engine(opts)
        found = eng.drift(parallelism)
        eng.close()
        if opts.json:
            emit_json({"drifted": bool(found), "resources": [change_to_json(c) for c in found]})
        else:
            render_drift(found, printer(opts))
        return len(found)

    if run(opts, body):
        raise typer.Exit(2)


def import_(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="Kind/name, as declared in the spec.")],
    object_id: Annotated[str, typer.Argument(metavar="ID", help="The existing object's ID.")],
    lock_timeout: Annotated[float, LOCK_TIMEOUT] = 0.0,
) -> None:
    """Adopt an existing object into the state as a declared resource."""
    opts = _options(ctx)

    def body() -> None:
        from stackwright.core.model import Address

        eng = engine(opts)
        record = eng.import_resource(Address.parse(address), object_id, lock_timeout)
        eng.close()
        if opts.json:
            emit_json({"ok": True, "address": address, "id": record.id})
        else:
            out = printer(opts)
            out.line(out.paint("Import successful:", "green", "bold") +
                     f" {address} [id={record.id}]. Run plan to see any difference from the spec.")

    run(opts, body)


def output(
    ctx: typer.Context,
    address: Annotated[str | None, typer.Argument(help="Only this resource (Kind/name).")] = None,
) -> None:
    """Show the recorded outputs of resources (sensitive ones masked)."""
    opts = _options(ctx)

    def body() -> None:
        from stackwright.errors import StateError

        eng = engine(opts)
        outputs = eng.outputs()
        eng.close()
        if address is not None:
            if address not in outputs:
                raise StateError(f"{address} is not in the state", hint="see `state list`")
            outputs = {address: outputs[address]}
        if opts.json:
            emit_json(outputs)
            return
        out = printer(opts)
        for addr, values in outputs.items():
            out.line(out.paint(addr, "bold"))
            for key, value in values.items():
                out.line(f"  {key} = {value}")

    run(opts, body)


def graph(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", help="dot or mermaid.")] = "dot",
) -> None:
    """Print the dependency graph of the spec as Graphviz DOT or Mermaid."""
    opts = _options(ctx)

    def body() -> None:
        g = engine(opts).graph()
        if opts.json:
            emit_json({str(a): [str(d) for d in ds] for a, ds in sorted(g.dependencies.items())})
        elif fmt == "mermaid":
            sys.stdout.write(g.to_mermaid())
        else:
            sys.stdout.write(g.to_dot())

    run(opts, body)


def schema(ctx: typer.Context) -> None:
    """Print the JSON Schema of every registered kind (for editors)."""
    opts = _options(ctx)

    def body() -> None:
        from stackwright.core.kinds import kind_registry
        from stackwright.core.spec.schema import json_schema

        emit_json(json_schema(kind_registry()))

    run(opts, body)


def version(ctx: typer.Context) -> None:
    """Print the version."""
    from stackwright import __version__

    if _options(ctx).json:
        emit_json({"version": __version__})
    else:
        print(f"stackwright {__version__}")
