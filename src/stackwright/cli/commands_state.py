"""state list|show|rm|mv|history, force-unlock, audit verify."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from stackwright.cli.main import _options, emit_json, engine, printer, run

LOCK_TIMEOUT = typer.Option("--lock-timeout", min=0.0, help="Seconds to wait for the lock.")


def register(state_app: typer.Typer, audit_app: typer.Typer, app: typer.Typer) -> None:
    state_app.command("list")(state_list)
    state_app.command("show")(state_show)
    state_app.command("rm")(state_rm)
    state_app.command("mv")(state_mv)
    state_app.command("history")(state_history)
    app.command("force-unlock")(force_unlock)
    audit_app.command("verify")(audit_verify)
    audit_app.command("log")(audit_log)


def state_list(ctx: typer.Context) -> None:
    """List the resources recorded in state."""
    opts = _options(ctx)

    def body() -> None:
        eng = engine(opts)
        snap = eng.snapshot()
        rows = [{"address": str(a), "id": r.id, "status": r.status.value}
                for a, r in sorted(snap.resources.items())]
        eng.close()
        if opts.json:
            emit_json({"generation": snap.generation, "resources": rows})
            return
        out = printer(opts)
        for row in rows:
            status = "" if row["status"] == "ready" else out.paint(f"  ({row['status']})", "yellow")
            out.line(f"{row['address']}{status}")

    run(opts, body)


def state_show(
    ctx: typer.Context, address: Annotated[str, typer.Argument(help="Kind/name.")]
) -> None:
    """Show one recorded resource: id, status, inputs and outputs (sensitive masked)."""
    opts = _options(ctx)

    def body() -> None:
        from stackwright.core.model import Address
        from stackwright.core.values import mask
        from stackwright.errors import StateError

        eng = engine(opts)
        rec = eng.snapshot().resources.get(Address.parse(address))
        eng.close()
        if rec is None:
            raise StateError(f"{address} is not in the state", hint="see `state list`")
        doc = {"address": address, "id": rec.id, "status": rec.status.value,
               "depends_on": [str(a) for a in rec.depends_on],
               "inputs": mask(dict(rec.inputs), rec.sensitive),
               "outputs": mask(dict(rec.outputs), rec.sensitive_outputs)}
        if opts.json:
            emit_json(doc)
            return
        _show_doc(doc, printer(opts))

    run(opts, body)


def _show_doc(doc: dict[str, Any], out: Any) -> None:
    import json

    out.line(out.paint(doc["address"], "bold") + f"  [id={doc['id']}] {doc['status']}")
    for section in ("inputs", "outputs"):
        out.line(f"  {section}:")
        for key, value in doc[section].items():
            out.line(f"    {key} = {json.dumps(value)}")
    if doc["depends_on"]:
        out.line(f"  depends on: {', '.join(doc['depends_on'])}")


def state_rm(
    ctx: typer.Context,
    addresses: Annotated[list[str], typer.Argument(help="Kind/name ...")],
    lock_timeout: Annotated[float, LOCK_TIMEOUT] = 0.0,
) -> None:
    """Forget resources without destroying them (they stay as they are)."""
    opts = _options(ctx)

    def body() -> None:
        from stackwright.core.engine import actor
        from stackwright.core.model import Address
        from stackwright.core.state.store import AuditEvent
        from stackwright.errors import StateError

        eng = engine(opts)
        who = actor()
        with eng.store.lock(eng.name, eng.environment, operation="state rm",
                            timeout=lock_timeout, who=who):
            known = eng.snapshot().resources
            targets = [Address.parse(a) for a in addresses]
            missing = [str(a) for a in targets if a not in known]
            if missing:
                raise StateError(f"not in the state: {', '.join(missing)}",
                                 hint="see `state list`")
            serial = eng.store.begin_run(eng.name, eng.environment, operation="state rm",
                                         actor=who)
            for target in targets:
                event = AuditEvent(actor=who, action="state.rm", project=eng.name,
                                   env=eng.environment, data={"address": str(target)})
                eng.store.remove(eng.name, eng.environment, target, serial=serial, audit=event)
            eng.store.finish_run(eng.name, eng.environment, serial, status="ok",
                                 summary={"removed": len(targets)})
        eng.close()
        if opts.json:
            emit_json({"ok": True, "removed": addresses})
        else:
            printer(opts).line(f"Removed {len(addresses)} resource(s) from the state.")

    run(opts, body)


def state_mv(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="Kind/name now.")],
    destination: Annotated[str, typer.Argument(help="Kind/name after.")],
    lock_timeout: Annotated[float, LOCK_TIMEOUT] = 0.0,
) -> None:
    """Rename a resource in the state (after renaming it in the spec), without touching it."""
    opts = _options(ctx)

    def body() -> None:
        from stackwright.core.engine import actor
        from stackwright.core.model import Address
        from stackwright.core.state.store import AuditEvent

        eng = engine(opts)
        who = actor()
        src, dst = Address.parse(source), Address.parse(destination)
        with eng.store.lock(eng.name, eng.environment, operation="state mv",
                            timeout=lock_timeout, who=who):
            eng.store.move(eng.name, eng.environment, src, dst)
            eng.store.audit_append(AuditEvent(actor=who, action="state.mv", project=eng.name,
                                              env=eng.environment,
                                              data={"from": source, "to": destination}))
        eng.close()
        if opts.json:
            emit_json({"ok": True, "from": source, "to": destination})
        else:
            printer(opts).line(f"Moved {source} to {destination}.")

    run(opts, body)


def state_history(ctx: typer.Context) -> None:
    """List every apply, destroy and import with its serial, who, when and what."""
    opts = _options(ctx)

    def body() -> None:
        eng = engine(opts)
        runs = eng.store.history(eng.name, eng.environment)
        eng.close()
        rows = [{"serial": r.serial, "operation": r.operation, "actor": r.actor,
                 "started_at": str(r.started_at), "finished_at": str(r.finished_at),
                 "status": r.status, "summary": r.summary} for r in runs]
        if opts.json:
            emit_json(rows)
            return
        out = printer(opts)
        for row in rows:
            summary = ", ".join(f"{k}={v}" for k, v in (row["summary"] or {}).items() if v)
            out.line(f"#{row['serial']:<4} {row['started_at']:<26} {row['operation']:<9} "
                     f"{row['status']:<11} {row['actor']}  {summary}")

    run(opts, body)


def force_unlock(
    ctx: typer.Context, lock_id: Annotated[str, typer.Argument(help="The lock's ID.")]
) -> None:
    """Release a lock that another process holds (only when sure it is gone)."""
    opts = _options(ctx)

    def body() -> None:
        eng = engine(opts)
        info = eng.store.force_unlock(eng.name, eng.environment, lock_id)
        eng.close()
        if opts.json:
            emit_json({"ok": True, "lock_id": lock_id, "holder": info.holder})
        else:
            printer(opts).line(f"Released lock {lock_id} held by {info.holder} (pid {info.pid}).")

    run(opts, body)


def audit_verify(ctx: typer.Context) -> None:
    """Recompute the audit log's hash chain; exit 1 if any entry was edited or deleted."""
    opts = _options(ctx)

    def body() -> bool:
        eng = engine(opts)
        report = eng.store.audit_verify()
        eng.close()
        if opts.json:
            emit_json({"ok": report.ok, "entries": report.entries, "problems": report.problems})
        else:
            out = printer(opts)
            if report.ok:
                out.line(out.paint("Audit log intact:", "green", "bold") +
                         f" {report.entries} entries, hash chain verified.")
            else:
                out.line(out.paint("Audit log tampered with:", "red", "bold"))
                for problem in report.problems:
                    out.line(f"  {problem}")
        return bool(report.ok)

    if not run(opts, body):
        raise typer.Exit(1)


def audit_log(
    ctx: typer.Context, limit: Annotated[int, typer.Option(help="Newest entries to show.")] = 50
) -> None:
    """Show the newest audit entries of this project."""
    opts = _options(ctx)

    def body() -> None:
        eng = engine(opts)
        entries = eng.store.audit_entries(project=eng.name)[-limit:]
        eng.close()
        rows = [{"seq": e.seq, "time": str(e.time), "actor": e.actor, "action": e.action,
                 "env": e.env, "data": e.data} for e in entries]
        if opts.json:
            emit_json(rows)
            return
        out = printer(opts)
        for row in rows:
            what = row["data"].get("address", "") if isinstance(row["data"], dict) else ""
            out.line(f"{row['seq']:>6} {row['time']:<26} {row['actor']:<24} {row['action']:<18}"
                     f" {what}")

    run(opts, body)
