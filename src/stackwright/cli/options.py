"""What every command shares, without typer: the global options, running a command body,
errors as messages and exit codes, JSON output.

Kept free of typer (and of everything typer imports) so that the quick path of the console
script (:mod:`stackwright.cli.quick`) runs ``validate`` and ``plan`` without paying for it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from stackwright.cli.render import Printer
from stackwright.errors import SpecErrors, StackwrightError

T = TypeVar("T")


@dataclass
class Options:
    chdir: Path = Path(".")
    environment: str | None = None
    state: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    output: str = "text"
    color: str = "auto"
    # Where the command writes; None is the process's own stdout/stderr. The daemon runs a
    # command handed to it by the CLI (stackwright.server.cli_runs) with streams of its own.
    stdout: Any = None
    stderr: Any = None

    @property
    def json(self) -> bool:
        return self.output == "json"

    @property
    def out(self) -> Any:
        return self.stdout or sys.stdout

    @property
    def err(self) -> Any:
        return self.stderr or sys.stderr


def exit_with(code: int) -> NoReturn:
    """End the command with ``code``: ``typer.Exit`` under the full CLI (as its commands
    expect), ``SystemExit`` on the quick path, where typer is never imported."""
    typer = sys.modules.get("typer")
    if typer is not None:
        raise typer.Exit(code)
    raise SystemExit(code)


def engine(opts: Options) -> Any:
    from stackwright.core.engine import Engine

    return Engine(opts.chdir, environment=opts.environment, state_url=opts.state,
                  variables=opts.variables)


def printer(opts: Options, stream: Any = None) -> Printer:
    return Printer(stream or opts.out, opts.color)


def emit_json(doc: Any, stream: Any = None) -> None:
    (stream or sys.stdout).write(json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n")


def fail(opts: Options, exc: StackwrightError) -> NoReturn:
    if opts.json:
        errors = [str(e) for e in exc.errors] if isinstance(exc, SpecErrors) else [str(exc)]
        emit_json({"ok": False, "error": type(exc).__name__, "errors": errors}, opts.out)
    else:
        err = Printer(opts.err, opts.color)
        label = err.paint("Error:", "red", "bold")
        if isinstance(exc, SpecErrors):
            err.line(f"{label} {exc.message}")
            for e in exc.errors:
                err.line(f"  {e}")
        else:
            err.line(f"{label} {exc}")
    exit_with(exc.exit_code)


def run(opts: Options, body: Callable[[], T]) -> T:
    """Run a command body, turning Stackwright errors into messages and exit codes."""
    try:
        return body()
    except StackwrightError as exc:
        fail(opts, exc)


def leave(code: object) -> None:
    """End the process without tearing the interpreter down object by object (0.3-0.4 s
    after a plan of thousands of resources): everything was committed and closed by the
    command, atexit handlers still run, and output is flushed first."""
    import atexit

    if isinstance(code, str):
        print(code, file=sys.stderr)
    status = code if isinstance(code, int) else (0 if code is None else 1)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
