"""server, up, down, status: the platform daemon from the command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from stackwright.cli.main import Options, _options, emit_json, engine, printer, run

START_TIMEOUT = 30.0


def register(app: typer.Typer) -> None:
    app.command("server")(server)
    app.command("up")(up)
    app.command("down")(down)
    app.command("status")(status)


def server(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="API port on 127.0.0.1 (0: a free one).")] = 0,
    secrets: Annotated[bool, typer.Option(help="Serve the Vault-compatible API.")] = True,
    controllers: Annotated[bool, typer.Option(
        help="Run the controllers (repair services, restart load balancers, cron jobs).")
    ] = True,
) -> None:
    """Run the platform daemon in the foreground (what `up` starts in the background)."""
    opts = _options(ctx)

    def body() -> None:
        from stackwright.server.daemon import run_daemon

        run_daemon(engine(opts), port=port, secrets=secrets, controllers=controllers)

    run(opts, body)


def _run_dir(opts: Options) -> Any:
    from stackwright.server.rundir import RunDir

    eng = engine(opts)
    return RunDir.of(eng.root, eng.environment)


def _start(opts: Options) -> dict[str, Any]:
    """Start the daemon in the background unless one answers; its address and pid."""
    from stackwright.server.daemon import DaemonError

    rundir = _run_dir(opts)
    info = rundir.read_info()
    if info is not None:
        return dict(info)
    rundir.ensure()
    # Not `-m stackwright.cli.main`: that would load the CLI module twice (as __main__ too).
    argv = [sys.executable, "-c", "from stackwright.cli.main import main; main()",
            "-C", str(opts.chdir.resolve())]
    if opts.environment:
        argv += ["--env", opts.environment]
    if opts.state:
        argv += ["--state", opts.state]
    argv.append("server")
    with open(rundir.log_file, "a") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        info = rundir.read_info()
        if info is not None and info.get("pid") == proc.pid:
            return dict(info)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    tail = _tail(rundir.log_file)
    raise DaemonError("the daemon did not start", hint=f"its log ends with: {tail}")


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text().strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def up(
    ctx: typer.Context,
    parallelism: Annotated[int, typer.Option(min=1, help="Actions run at once.")] = 10,
) -> None:
    """Start the daemon (or attach to the running one), then apply the spec."""
    opts = _options(ctx)

    def body() -> None:
        from stackwright.cli.commands_core import _apply

        info = _start(opts)
        if not opts.json:
            printer(opts).line(f"Daemon running: pid {info['pid']}, api {info['api']}")
        _apply(opts, plan_file=None, destroy=False, yes=True, parallelism=parallelism,
               lock_timeout=60.0, emit=False)
        _status(opts)

    run(opts, body)


def down(
    ctx: typer.Context,
    timeout: Annotated[float, typer.Option(help="Seconds before SIGKILL.")] = 15.0,
) -> None:
    """Stop the daemon. Resources and data stay as they are (use destroy to remove them)."""
    opts = _options(ctx)

    def body() -> None:
        rundir = _run_dir(opts)
        info = rundir.read_info()
        stopped = None
        if info is not None:
            stopped = int(info["pid"])
            _stop(stopped, timeout)
            rundir.info_file.unlink(missing_ok=True)
        if opts.json:
            emit_json({"ok": True, "stopped": stopped})
        else:
            text = f"Stopped the daemon (pid {stopped})." if stopped else "No daemon was running."
            printer(opts).line(text)

    run(opts, body)


def _stop(pid: int, timeout: float) -> None:
    from stackwright.server.rundir import pid_alive

    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


def status(ctx: typer.Context) -> None:
    """The daemon (pid, api, uptime, secrets, controllers) and every resource: its health
    (read live, as drift does), replicas, revision and endpoints."""
    opts = _options(ctx)
    run(opts, lambda: _status(opts))


def _status(opts: Options) -> None:
    import httpx

    rundir = _run_dir(opts)
    info = rundir.read_info()
    daemon: dict[str, Any] | None = None
    if info is not None:
        try:
            daemon = httpx.get(f"{info['api']}/api/v1/status", timeout=10).json()
        except httpx.HTTPError:
            daemon = {**info, "reachable": False}
    if daemon is None or "resources" not in daemon:
        from stackwright.server.status import resource_rows

        resources = resource_rows(engine(opts))
    else:
        resources = daemon.pop("resources")
    api = daemon.get("api") if daemon else None
    if opts.json:
        emit_json({"daemon": daemon, "api": api, "resources": resources})
        return
    out = printer(opts)
    if daemon is None:
        out.line(out.paint("Daemon: not running", "yellow") + " (start it with `stackwright up`)")
    else:
        sealed = (daemon.get("secrets") or {}).get("sealed")
        out.line(out.paint("Daemon: running", "green", "bold") +
                 f"  pid {daemon.get('pid')}  api {api}  up {daemon.get('uptime_s')}s"
                 + ("" if sealed is None else f"  secrets {'sealed' if sealed else 'unsealed'}"))
    for c in (daemon or {}).get("controllers") or []:
        problem = c.get("last_error")
        out.line(f"  controller {c['name']:<14} every {c['interval_s']}s, {c['repairs']} "
                 f"repair(s)" + (out.paint(f"  last error: {problem}", "red") if problem
                                 else ""))
    for row in resources:
        health = str(row.get("health", row["status"]))
        color = "green" if health == "healthy" else ("red" if health == "missing" else "yellow")
        details = "  ".join(f"{k}={_short(v)}" for k, v in (row.get("outputs") or {}).items())
        out.line(f"  {out.paint('●', color)} {row['address']:<32} {health:<10} {details}")


def _short(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return str(value)

