"""The quick path of the console script: ``validate`` and ``plan`` without typer.

Typer builds its command tree (and, since 0.2x, a pydantic ``TypeAdapter`` per parameter)
before the first action, which is a third of a small ``plan``'s time. The two commands a
user runs most often in a loop are parsed here with the standard library and run with the
same bodies, output and exit codes as under the full CLI (``commands_core`` calls
:func:`validate_body` and :func:`plan_body` too).

Anything this parser does not fully understand — ``--help``, an unknown option, a missing
value, a bad ``--output`` — returns None and the full CLI handles it (and explains the
mistake). ``STACKWRIGHT_QUICK=0`` turns the quick path off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stackwright.cli.options import Options, emit_json, engine, exit_with, printer, run

OPT_OUT_ENV = "STACKWRIGHT_QUICK"
_GLOBAL = {"-C": "chdir", "--chdir": "chdir", "--env": "environment", "-e": "environment",
           "--state": "state", "--var": "var", "--output": "output", "-o": "output",
           "--color": "color"}
_PLAN_VALUED = {"--out": "out_file", "--parallelism": "parallelism"}
_PLAN_FLAGS = {"--destroy": ("destroy", True), "--detailed-exitcode": ("detailed", True),
               "--refresh": ("refresh", True), "--no-refresh": ("refresh", False)}


def parse(argv: list[str], environ: Any) -> dict[str, Any] | None:
    """The command and its options, or None when the full CLI must handle ``argv``."""
    req: dict[str, Any] = {"command": None, "chdir": ".", "environment": None,
                           "state": environ.get("STACKWRIGHT_STATE") or None, "variables": {},
                           "output": "text", "color": "auto", "out_file": None,
                           "parallelism": "10", "destroy": False, "detailed": False,
                           "refresh": True}
    i = 0
    while i < len(argv):
        name, eq, inline = argv[i].partition("=")
        valued = _GLOBAL.get(name) or (_PLAN_VALUED.get(name) if req["command"] == "plan"
                                       else None)
        if valued:
            if not eq and i + 1 >= len(argv):
                return None
            value = inline if eq else argv[i + 1]
            i += 1 if eq else 2
            if not _set(req, valued, value):
                return None
            continue
        if argv[i] in ("validate", "plan") and req["command"] is None:
            req["command"] = argv[i]
        elif req["command"] == "plan" and argv[i] in _PLAN_FLAGS:
            key, flag = _PLAN_FLAGS[argv[i]]
            req[key] = flag
        else:
            return None
        i += 1
    ok = (req["command"] and req["output"] in ("text", "json")
          and req["color"] in ("auto", "always", "never") and req["parallelism"].isdigit()
          and int(req["parallelism"]) >= 1)
    return req if ok else None


def _set(req: dict[str, Any], key: str, value: str) -> bool:
    if key == "var":
        name, sep, val = value.partition("=")
        if not sep:
            return False
        req["variables"][name] = val
    else:
        req[key] = value.lower() if key == "output" else value
    return True


def try_run(argv: list[str], environ: Any) -> int | None:
    """Run ``argv`` here and return its exit code, or None for the full CLI."""
    if environ.get(OPT_OUT_ENV, "") == "0":
        return None
    req = parse(argv, environ)
    if req is None:
        return None
    opts = Options(Path(req["chdir"]), req["environment"], req["state"], req["variables"],
                   req["output"], req["color"])
    try:
        if req["command"] == "validate":
            run(opts, lambda: validate_body(opts))
            return 0
        out_file = Path(req["out_file"]) if req["out_file"] else None
        changes = run(opts, lambda: plan_body(opts, out_file, req["destroy"], req["refresh"],
                                              int(req["parallelism"])))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 2 if req["detailed"] and changes else 0


def validate_body(opts: Options) -> None:
    eng = engine(opts)
    project = eng.project
    count = len(project.declared)
    if opts.json:
        emit_json({"ok": True, "project": eng.name, "environment": eng.environment,
                   "resources": count}, opts.out)
    else:
        out = printer(opts)
        out.line(out.paint("The spec is valid:", "green", "bold") +
                 f" {count} resource(s) in {eng.name}/{eng.environment}.")


def plan_body(opts: Options, out_file: Path | None, destroy: bool, refresh: bool,
              parallelism: int) -> bool:
    """Make, print (and with ``out_file`` save) a plan; True when it has changes."""
    from stackwright.cli.render import render_plan

    eng = engine(opts)
    target = in_project(opts, out_file)
    made = eng.plan(destroy=destroy, refresh=refresh, parallelism=parallelism)
    if target is not None:
        from stackwright.core.planfile import write_plan

        write_plan(made, target, eng.cipher)
    if opts.json:
        from stackwright.core.planfile import plan_to_json

        doc = plan_to_json(made)
        if out_file is not None:
            doc["saved_to"] = str(out_file)
        emit_json(doc, opts.out)
    else:
        out = printer(opts)
        render_plan(made, out)
        if out_file is not None:
            out.line(f"\nSaved the plan to {out_file}. Apply it exactly with:"
                     f" stackwright apply {out_file}")
    eng.close()
    return bool(made.has_changes)


def in_project(opts: Options, path: Path | None) -> Path | None:
    """Relative plan-file paths are relative to the project directory (-C), as with
    terraform -chdir."""
    if path is None or path.is_absolute():
        return path
    return opts.chdir / path


__all__ = ["exit_with", "parse", "plan_body", "try_run", "validate_body"]
