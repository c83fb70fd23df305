"""The daemon's unix socket for the CLI (``cli.sock`` in the run directory).

The CLI hands ``apply``/``destroy`` to the running daemon through it
(:mod:`stackwright.cli.remote`, :mod:`stackwright.cli.served`). The socket is created with mode
0600 in a directory only its owner may enter, so only the user who runs the daemon can use it,
as with the daemon's state. When the run directory's path is too long for a unix socket, the
socket is bound through a short symlink (:func:`stackwright.ports.socket_dir`).
"""

from __future__ import annotations

import json
import os
import socketserver
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackwright.ports import socket_dir

if TYPE_CHECKING:
    from stackwright.core.engine import Engine

MAX_REQUEST = 1 << 20
SOCKET_NAME = "cli.sock"


class CliSocket:
    """Serves CLI hand-offs in threads until :meth:`close`."""

    def __init__(self, engine: Engine, run_root: Path, log: Any) -> None:
        self.engine = engine
        self.log = log
        self.path = socket_dir(run_root) / SOCKET_NAME
        self.path.unlink(missing_ok=True)
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                owner.serve(self.rfile, self.wfile)

        old = os.umask(0o177)
        try:
            self.server = socketserver.ThreadingUnixStreamServer(str(self.path), Handler)
        finally:
            os.umask(old)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="cli-socket",
                                       daemon=True)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.path.unlink(missing_ok=True)

    def serve(self, rfile: Any, wfile: Any) -> None:
        from stackwright.cli.served import refusal, run_request

        lock = threading.Lock()
        gone = threading.Event()

        def send(doc: dict[str, Any]) -> None:
            if gone.is_set():
                return
            with lock:
                try:
                    wfile.write(json.dumps(doc).encode() + b"\n")
                    wfile.flush()
                except OSError:  # the caller went away: the run goes on, its output is lost
                    gone.set()

        try:
            req = json.loads(rfile.readline(MAX_REQUEST))
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            send({"refused": f"malformed request: {exc}"})
            return
        reason = refusal(self.engine, req)
        if reason is not None:
            self.log("cli.refused", command=req.get("command"), reason=reason)
            send({"refused": reason})
            return
        self.log("cli.run", command=req["command"])
        cancel = threading.Event()
        threading.Thread(target=_watch_caller, args=(rfile, cancel), name="cli-caller",
                         daemon=True).start()
        try:
            code = run_request(self.engine, req, lambda which, text: send({which: text}),
                               cancel)
        except Exception as exc:  # reported to the caller and logged; the daemon keeps serving
            self.log("cli.failed", level="error", command=req["command"], error=repr(exc))
            send({"e": f"Error: the daemon failed running {req['command']}: {exc}\n"})
            code = 1
        self.log("cli.done", command=req["command"], exit=code, cancelled=cancel.is_set())
        send({"exit": code})


def _watch_caller(rfile: Any, cancel: threading.Event) -> None:
    """The caller sends nothing after its request: end of input means it was interrupted
    (it shuts its side down and keeps reading the output) or went away."""
    try:
        rfile.read(1)
    except (OSError, ValueError):
        pass
    cancel.set()
