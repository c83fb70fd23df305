"""The daemon's side of :mod:`stackwright.cli.remote`: run a handed-off ``apply`` or
``destroy`` exactly as the CLI would, its output written to the caller's streams.

The daemon first checks that the request is one it may run as if it were the caller: the same
project directory, environment (an unnamed one must be the project's default) and state
database, and the same ``STACKWRIGHT_*``/``VAULT_*`` variables. Anything else is refused with a
reason, and the CLI runs the command itself.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackwright.cli.remote import PROTOCOL, environ_digest

if TYPE_CHECKING:
    from stackwright.core.engine import Engine

Write = Callable[[str, str], None]  # (stream "o" or "e", text)


class Stream:
    """A text stream whose writes go to the caller; never a terminal (colors are decided by
    the caller and passed as ``always`` or ``never``)."""

    def __init__(self, write: Write, which: str) -> None:
        self._write = write
        self._which = which

    def write(self, text: str) -> int:
        if text:
            self._write(self._which, text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def refusal(daemon: Engine, req: dict[str, Any]) -> str | None:
    """Why the daemon will not run ``req`` for its caller, or None when it will."""
    from stackwright.core.engine import Engine

    if req.get("v") != PROTOCOL or req.get("command") not in ("apply", "destroy"):
        return "not a request this daemon understands"
    if Path(str(req.get("root"))).resolve() != daemon.root:
        return "another project directory"
    if req.get("environ") != environ_digest(os.environ):
        return "STACKWRIGHT_*/VAULT_* variables differ from the daemon's"
    asked = Engine(daemon.root, environment=req.get("environment"), state_url=req.get("state"))
    try:
        if asked.environment != daemon.environment:
            return "another environment"
        if asked.state_url != daemon.state_url:
            return "another state database"
    except Exception as exc:  # a broken stackwright.yaml: the CLI reports it properly
        return f"cannot read the project: {type(exc).__name__}"
    return None


def run_request(daemon: Engine, req: dict[str, Any], write: Write,
                cancel: threading.Event | None = None) -> int:
    """Run the command of an accepted request; returns its exit code. ``cancel`` is set when
    the caller is interrupted: as in the CLI, no further action starts, those in flight
    finish and are recorded. With ``no_wait`` the run is detached (:func:`_detached`)."""
    if req.get("no_wait"):
        return _detached(daemon, req, write)
    return _run(daemon, req, write, cancel)


def _run(daemon: Engine, req: dict[str, Any], write: Write, cancel: threading.Event | None,
         observe: Callable[[Any], None] | None = None) -> int:
    import typer

    from stackwright.cli.commands_core import _apply
    from stackwright.cli.main import Options, run

    opts = Options(chdir=daemon.root, environment=daemon.environment, state=daemon.state_url,
                   variables=dict(req.get("variables") or {}), output=str(req["output"]),
                   color=str(req["color"]), stdout=Stream(write, "o"), stderr=Stream(write, "e"))
    plan_file = req.get("plan_file")
    try:
        run(opts, lambda: _apply(
            opts, plan_file=Path(plan_file) if plan_file else None,
            destroy=req["command"] == "destroy", yes=bool(req.get("yes")),
            parallelism=int(req.get("parallelism") or 10),
            lock_timeout=float(req.get("lock_timeout") or 0.0),
            refresh=bool(req.get("refresh", True)), cancel=cancel, observe=observe))
    except typer.Exit as exc:
        return int(exc.exit_code)
    return 0


def _detached(daemon: Engine, req: dict[str, Any], write: Write) -> int:
    """``apply --no-wait``: the apply runs in a thread of the daemon, not tied to the caller;
    the caller gets its output until an action is underway (a rollout has begun and is
    recorded) — or its whole output and exit code when it ends first (an error, a refused
    lock, nothing long to wait for)."""
    lock, detached, underway = threading.Lock(), threading.Event(), threading.Event()
    codes: list[int] = []
    names: list[str] = []

    def guarded(which: str, text: str) -> None:
        with lock:
            if not detached.is_set():
                write(which, text)

    def observe(event: Any) -> None:
        if event.phase == "underway":
            names.append(str(event.address))
            underway.set()

    def body() -> None:
        try:
            codes.append(_run(daemon, req, guarded, threading.Event(), observe))
        finally:
            underway.set()

    threading.Thread(target=body, name="apply-no-wait", daemon=True).start()
    underway.wait()
    with lock:
        if codes:
            return codes[0]
        detached.set()
    if req.get("output") == "json":
        import json

        write("o", json.dumps({"ok": True, "detached": True, "underway": names}) + "\n")
    else:
        write("o", f"{', '.join(names)}: rollout underway; the daemon carries it on. Follow "
                   "it with `stackwright rollout status SERVICE`; the apply's outcome is in "
                   "`stackwright state history`.\n")
    return 0
