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
    port: Annotated[int, typer.Option(help="API port (0: a free one).")] = 0,
    host: Annotated[str, typer.Option(
        help="Address to bind. Anything but loopback needs --tls-cert/--tls-key and an admin "
             "user.")] = "127.0.0.1",
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate (chain) to serve.")
                        ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert.")
                       ] = None,
    secrets: Annotated[bool, typer.Option(help="Serve the Vault-compatible API.")] = True,
    controllers: Annotated[bool, typer.Option(
        help="Run the controllers (repair services, restart load balancers, cron jobs).")
    ] = True,
) -> None:
    """Run the platform daemon in the foreground (what `up` starts in the background)."""
    opts = _options(ctx)

    def body() -> None:
        from stackwright.server.daemon import run_daemon

        run_daemon(engine(opts), host=host, port=port, secrets=secrets,
                   controllers=controllers, tls=(tls_cert, tls_key))

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
        from stackwright.errors import StackwrightError

        info = _start(opts)
        if not opts.json:
            printer(opts).line(f"Daemon running: pid {info['pid']}, api {info['api']}")
        try:
            _apply(opts, plan_file=None, destroy=False, yes=True, parallelism=parallelism,
                   lock_timeout=60.0, emit=False)
        except StackwrightError as exc:
            # The daemon stays up (as compose keeps what started): say so, and how to stop it.
            kept = (f"the daemon (pid {info['pid']}) keeps running: fix this and run "
                    "`stackwright up` again, or `stackwright down` to stop it")
            exc.hint = f"{exc.hint}; {kept}" if exc.hint else kept
            raise
        _status(opts)

    run(opts, body)


def down(
    ctx: typer.Context,
    timeout: Annotated[float, typer.Option(
        help="Seconds to wait for the daemon to exit before SIGKILL.")] = 15.0,
    daemon_only: Annotated[bool, typer.Option(
        "--daemon-only", help="Stop only the daemon; what it runs keeps running.")] = False,
    lock_timeout: Annotated[float, typer.Option(
        help="Seconds to wait for another writer (an apply) to finish.")] = 60.0,
) -> None:
    """Stop the daemon and what it runs for this project and environment (service replicas,
    databases, caches, load balancers). Recorded state, volumes and data stay; `up` starts
    them again; `destroy` removes them."""
    opts = _options(ctx)
    run(opts, lambda: _down(opts, timeout, daemon_only, lock_timeout))


def _down(opts: Options, timeout: float, daemon_only: bool, lock_timeout: float) -> None:
    from stackwright.errors import TargetError

    out = printer(opts)
    stopped = _stop_daemon(opts, timeout)
    if not opts.json:
        out.line(f"Stopped the daemon (pid {stopped})." if stopped else "No daemon was running.")
    outcome = None if daemon_only else _suspend(opts, lock_timeout)
    suspended = [str(a) for a in outcome.stopped] if outcome else []
    failed = {str(a): e for a, e in sorted(outcome.failed.items())} if outcome else {}
    if opts.json:
        doc: dict[str, Any] = {"ok": not failed, "stopped": stopped, "suspended": suspended}
        emit_json({**doc, "failed": failed} if failed else doc)
        if failed:
            raise typer.Exit(1)
    elif outcome is not None:
        out.line(f"Stopped {len(suspended)} component(s); recorded state, volumes and data "
                 "are kept (`stackwright up` starts them again).")
    if failed:
        lines = "\n  ".join(f"{a}: {e}" for a, e in failed.items())
        raise TargetError(f"could not stop {len(failed)} component(s):\n  {lines}",
                          hint="the others were stopped; fix the cause and run down again")


def _stop_daemon(opts: Options, timeout: float) -> int | None:
    """Stop this environment's daemon first (its controllers would restart what is stopped);
    its pid, or None when none was running."""
    rundir = _run_dir(opts)
    info = rundir.read_info()
    if info is None:
        return None
    pid = int(info["pid"])
    _stop(pid, timeout)
    rundir.info_file.unlink(missing_ok=True)
    return pid


def _suspend(opts: Options, lock_timeout: float) -> Any:
    """Every component's driver stops what runs, dependents first (see Engine.suspend)."""
    eng = engine(opts)
    out = printer(opts)

    def show(event: Any) -> None:
        if opts.json:
            return
        if event.error is None:
            out.line(f"  {out.paint('■', 'yellow')} {event.address} stopped")
        else:
            out.line(f"  {out.paint('✗', 'red')} {event.address}: {event.error}")

    try:
        return eng.suspend(lock_timeout=lock_timeout, on_event=show)
    finally:
        eng.close()


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
    for name, comp in ((daemon or {}).get("components") or {}).items():
        state = str(comp.get("state", "?"))
        shown = out.paint(state, "green" if state == "running" else "red")
        out.line(f"  component {name:<13} {shown}"
                 + (f"  {comp['url']}" if comp.get("url") else "")
                 + (_gitops_line(comp) if name == "gitops" else "")
                 + (f"  {comp['error']}" if comp.get("error") else ""))
    for row in resources:
        health = str(row.get("health", row["status"]))
        color = "green" if health == "healthy" else ("red" if health == "missing" else "yellow")
        details = "  ".join(f"{k}={_short(v)}" for k, v in (row.get("outputs") or {}).items())
        out.line(f"  {out.paint('●', color)} {row['address']:<32} {health:<10} {details}")


def _gitops_line(comp: dict[str, Any]) -> str:
    """``mode auto at <commit> (applied)``, and which commits wait for an approval."""
    last = comp.get("last_run") or {}
    text = f"  mode {comp.get('mode')} at {str(comp.get('commit') or '-')[:12]}"
    text += f" ({last['status']})" if last else ""
    if comp.get("waiting"):
        text += "  waiting: " + ", ".join(c[:12] for c in comp["waiting"])
    drift = comp.get("drift") or {}
    return text + (f"  drift {drift['status']}" if drift else "")


def _short(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return str(value)

