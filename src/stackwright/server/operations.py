"""Long operations of the API (apply, destroy) as resources: started, polled, streamed.

An operation runs the CLI's own apply in a thread of the daemon (as a handed-off
``apply --yes`` does, :mod:`stackwright.cli.served`), with its output captured, so the API,
the console and a remote CLI see the same progress lines and JSON as the CLI prints. Every
line and every resource's progress is an event numbered from 0; a client polls
``GET /api/v1/operations/{id}`` or follows ``…/events`` (server-sent events, resuming after
``Last-Event-ID``). The actor recorded in state history and the audit log is the user the
API authenticated. Finished operations are kept in memory (the last 100); their record in
state history stays for good.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KEEP = 100


@dataclass
class Operation:
    id: str
    action: str
    actor: str
    output: str
    created_at: float = field(default_factory=time.time)
    status: str = "running"  # running, succeeded, failed, cancelled
    exit_code: int | None = None
    finished_at: float | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def add(self, kind: str, **data: Any) -> None:
        with self.changed:
            self.events.append({"seq": len(self.events), "type": kind, "time": time.time(),
                                **data})
            self.changed.notify_all()

    def write(self, stream: str, text: str) -> None:
        self.add("output", stream="stdout" if stream == "o" else "stderr", text=text)

    def progress(self, event: Any) -> None:
        self.add("progress", address=str(event.address), action=event.action.value,
                 phase=event.phase, elapsed=round(event.elapsed, 3),
                 message=event.message or None)

    def finish(self, code: int) -> None:
        self.exit_code = code
        self.finished_at = time.time()
        self.status = ("cancelled" if self.cancel.is_set() else
                       "succeeded" if code == 0 else "failed")
        self.add("done", status=self.status, exit_code=code)

    def wait_events(self, after: int, timeout: float) -> list[dict[str, Any]]:
        """Events numbered above ``after`` (-1: all), waiting up to ``timeout`` for one."""
        with self.changed:
            if len(self.events) <= after + 1 and self.status == "running":
                self.changed.wait(timeout)
            return list(self.events[after + 1:])

    def to_json(self, *, events: bool = False) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id, "action": self.action, "actor": self.actor, "status": self.status,
            "exit_code": self.exit_code, "created_at": self.created_at,
            "finished_at": self.finished_at, "output_format": self.output,
            "links": {"self": f"/api/v1/operations/{self.id}",
                      "events": f"/api/v1/operations/{self.id}/events"}}
        if events:
            doc["events"] = list(self.events)
        return doc


Runner = Callable[[Operation], int]


class Operations:
    """The daemon's operations: at most one runs at a time per daemon (the state lock would
    refuse a second writer anyway; this says so before starting a thread)."""

    def __init__(self) -> None:
        self._ops: OrderedDict[str, Operation] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, action: str, actor: str, output: str, runner: Runner) -> Operation:
        op = Operation(id=secrets.token_hex(8), action=action, actor=actor, output=output)
        with self._lock:
            self._ops[op.id] = op
            while len(self._ops) > KEEP:
                self._ops.popitem(last=False)
        threading.Thread(target=self._run, args=(op, runner), name=f"op-{op.id}",
                         daemon=True).start()
        return op

    def running(self) -> Operation | None:
        with self._lock:
            return next((o for o in self._ops.values() if o.status == "running"), None)

    def _run(self, op: Operation, runner: Runner) -> None:
        try:
            code = runner(op)
        except Exception as exc:  # reported on the operation; the daemon goes on
            op.write("e", f"Error: {type(exc).__name__}: {exc}\n")
            code = 1
        op.finish(code)

    def get(self, op_id: str) -> Operation | None:
        with self._lock:
            return self._ops.get(op_id)

    def list(self) -> list[Operation]:
        with self._lock:
            return list(reversed(self._ops.values()))


def cli_apply_runner(root: Path, environment: str, state_url: str, *, destroy: bool,
                     plan_file: Path | None, parallelism: int, lock_timeout: float) -> Runner:
    """Run the CLI's apply for an operation, as ``apply --yes`` (or ``apply PLANFILE``)."""

    def runner(op: Operation) -> int:
        from stackwright.cli.commands_core import _apply
        from stackwright.cli.options import Options, run
        from stackwright.cli.served import Stream

        opts = Options(chdir=root, environment=environment, state=state_url,
                       output=op.output, color="never", stdout=Stream(op.write, "o"),
                       stderr=Stream(op.write, "e"))
        try:
            run(opts, lambda: _apply(opts, plan_file=plan_file, destroy=destroy, yes=True,
                                     parallelism=parallelism, lock_timeout=lock_timeout,
                                     cancel=op.cancel, who=op.actor, observe=op.progress))
        except (SystemExit, RuntimeError) as exc:  # typer.Exit is a RuntimeError
            code = getattr(exc, "exit_code", getattr(exc, "code", 1))
            return code if isinstance(code, int) else 1
        return 0

    return runner


def sse(op: Operation, after: int, heartbeat: float = 15.0) -> Iterator[str]:
    """The operation's events as server-sent events, from ``after`` on, until it is done."""
    while True:
        batch = op.wait_events(after, heartbeat)
        if not batch:
            if op.status != "running":
                return
            yield ": keep-alive\n\n"
            continue
        for event in batch:
            after = event["seq"]
            import json

            yield f"id: {after}\nevent: {event['type']}\ndata: {json.dumps(event)}\n\n"
            if event["type"] == "done":
                return
