"""``stackwright server``: the daemon's process.

It takes an exclusive ``flock`` on ``daemon.lock`` (a second daemon for the same project and
environment refuses to start, naming the first), serves FastAPI with uvicorn on 127.0.0.1,
writes ``daemon.json`` once it answers, runs the registered controllers
(:mod:`stackwright.server.controllers`), logs JSON lines to ``daemon.log``, and on SIGTERM or
SIGINT stops the controllers and the API, removes ``daemon.json`` and releases the lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

from stackwright import __version__
from stackwright.errors import StackwrightError, TargetError
from stackwright.ports import free_port
from stackwright.server.rundir import RunDir

if TYPE_CHECKING:
    from stackwright.core.engine import Engine


class DaemonError(StackwrightError):
    """The daemon cannot start or be reached."""


class JsonLog:
    """One JSON object a line: time, level, event and fields. Never given secret values."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.lock = threading.Lock()

    def __call__(self, event: str, level: str = "info", **fields: Any) -> None:
        doc = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "level": level,
               "event": event, **fields}
        with self.lock:
            self.stream.write(json.dumps(doc, default=str) + "\n")
            self.stream.flush()


@contextmanager
def exclusive(run: RunDir) -> Iterator[None]:
    """Hold the daemon lock of this project and environment, or fail naming the holder."""
    run.ensure()
    handle = open(run.lock_file, "a+")  # noqa: SIM115 - held for the daemon's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        handle.close()
        info = run.read_info() or {}
        raise DaemonError(
            f"a daemon already runs for this project and environment "
            f"(pid {info.get('pid', '?')}, api {info.get('api', '?')})",
            hint="use it, or stop it with `stackwright down`",
        ) from exc
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()



def run_daemon(engine: Engine, *, host: str = "127.0.0.1", port: int = 0,
               secrets: bool = True, controllers: bool = True,
               tls: tuple[Any, Any] = (None, None)) -> None:
    """Serve until SIGTERM or SIGINT. Blocks. Off loopback it needs TLS and an admin
    (:func:`stackwright.server.exposure.check_exposure`)."""
    import uvicorn

    from stackwright.server.app import PlatformContext, create_platform_app
    from stackwright.server.cli_socket import CliSocket
    from stackwright.server.components import start_components, stop_components
    from stackwright.server.controllers import ControllerHost
    from stackwright.server.exposure import check_exposure
    from stackwright.server.http import uvicorn_config

    check_exposure(engine, host, *tls)
    scheme = "https" if tls[0] else "http"
    run = RunDir.of(engine.root, engine.environment)
    with exclusive(run), open(run.log_file, "a") as log_stream:
        log = JsonLog(log_stream)
        store = _open_secrets(engine, run) if secrets else None
        port = port or free_port(host)
        host_ = ControllerHost(engine, log) if controllers else None
        ctx = PlatformContext(engine=engine, started=time.time(), pid=os.getpid(),
                              api=f"{scheme}://{host}:{port}", secrets=store,
                              controllers=host_, log=log, tls=tls[0] is not None)
        config = uvicorn_config(create_platform_app(ctx), host, port,
                                idle_timeout=_idle_timeout(engine), tls=tls)
        server = uvicorn.Server(config)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        thread = threading.Thread(target=server.run, name="api", daemon=True)
        thread.start()
        cli: CliSocket | None = None
        try:
            _wait_started(server, thread, host, port)
            cli = CliSocket(engine, run.root, log)
            cli.start()
            run.write_info({"pid": ctx.pid, "api": ctx.api, "cli_socket": str(cli.path),
                            "version": __version__,
                            "project": engine.name, "environment": engine.environment,
                            "started_at": datetime.now(UTC).isoformat(timespec="seconds")})
            log("daemon.started", pid=ctx.pid, api=ctx.api, secrets=store is not None)
            threading.Thread(target=_warm_up, args=(engine, log), name="warm-up",
                             daemon=True).start()
            start_components(ctx)
            if host_ is not None:
                host_.start()
            while not stop.wait(0.5) and thread.is_alive():
                pass
        finally:
            if cli is not None:
                cli.close()
            if host_ is not None:
                host_.shutdown()
            stop_components(ctx)
            server.should_exit = True
            thread.join(timeout=10)
            run.info_file.unlink(missing_ok=True)
            if store is not None:
                store.close()
            log("daemon.stopped", pid=ctx.pid)


def _warm_up(engine: Engine, log: JsonLog) -> None:
    """Import what a handed-off apply needs and load the kinds, so that the first one does
    not pay for it (cli.served)."""
    started = time.monotonic()
    try:
        import stackwright.cli.commands_core
        import stackwright.cli.render
        import stackwright.core.planfile
        import stackwright.core.state.store  # noqa: F401

        for name in engine.kinds.names():
            engine.kinds.get(name)
    except Exception as exc:  # only a missed optimisation: the hand-off imports on demand
        log("daemon.warm_up_failed", level="warning", error=repr(exc))
    else:
        log("daemon.warmed_up", seconds=round(time.monotonic() - started, 3))


def _wait_started(server: Any, thread: threading.Thread, host: str, port: int) -> None:
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise DaemonError(f"the API did not start on {host}:{port}",
                              hint="is the port taken? see daemon.log")
        time.sleep(0.02)


def _idle_timeout(engine: Engine) -> float:
    """``settings.server.idleTimeout`` (seconds an idle keep-alive connection is kept)."""
    from stackwright.server.http import DEFAULT_IDLE_TIMEOUT

    value = (engine.config.settings.get("server") or {}).get("idleTimeout", DEFAULT_IDLE_TIMEOUT)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise DaemonError(f"stackwright.yaml: settings.server.idleTimeout: {value!r} is not a "
                          "number of seconds above 0",
                          hint=f"leave it out for the default, {DEFAULT_IDLE_TIMEOUT:g}")
    return float(value)


def _open_secrets(engine: Engine, run: RunDir) -> Any:
    from stackwright.secrets.config import audit_options
    from stackwright.secrets.store import SecretsSettings, SecretsStore

    settings = SecretsSettings(database_url=engine.state_url, audit_path=run.vault_audit_file,
                               **audit_options(engine.config.settings))
    try:
        return SecretsStore.open(settings)
    except StackwrightError:
        raise
    except Exception as exc:  # a store that cannot open must not start a half daemon
        raise TargetError(f"cannot open the secrets store: {exc}") from exc
