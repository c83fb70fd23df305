"""HAProxy: a pure config renderer, the master-worker process, and the runtime API client.

The config comes from typed frontends and backends (:func:`render_config`); a
:class:`HaproxyProcess` runs ``haproxy -W -S`` under a state dir (a first start lets haproxy
check its config as it starts), checks every reload's config with ``haproxy -c`` first and
reloads without dropping connections; a :class:`HaproxyRuntime` talks to the stats socket
(``show stat``, weights, drain).
"""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from stackwright.errors import PermanentError, TemporaryError
from stackwright.tools._proc import ToolError, run, tail

# Config model


@dataclass(frozen=True)
class Server:
    name: str
    address: str  # an IP or a name resolved at start (container DNS)
    port: int
    weight: int = 100
    check: bool = True
    backup: bool = False
    disabled: bool = False


@dataclass(frozen=True)
class HttpCheck:
    path: str = "/healthz"
    expect_status: int | None = 200


@dataclass(frozen=True)
class TcpCheck:
    """A health check that only opens a TCP connection."""


@dataclass(frozen=True)
class Backend:
    name: str
    servers: tuple[Server, ...] = ()
    mode: Literal["http", "tcp"] = "http"
    balance: str = "roundrobin"
    health: HttpCheck | TcpCheck | None = HttpCheck()
    check_interval: str = "2s"
    rise: int = 2
    fall: int = 3
    init_addr_none: bool = False  # start even when a server name does not resolve yet


@dataclass(frozen=True)
class Route:
    """Send requests for ``host`` (any when None) under ``path_prefix`` to ``backend``."""

    backend: str
    host: str | None = None
    path_prefix: str | None = None


@dataclass(frozen=True)
class HttpFrontend:
    name: str
    bind: str  # "127.0.0.1:8080"
    routes: tuple[Route, ...] = ()
    default_backend: str | None = None


@dataclass(frozen=True)
class TcpFrontend:
    name: str
    bind: str
    backend: str


@dataclass(frozen=True)
class Timeouts:
    connect: str = "5s"
    client: str = "30s"
    server: str = "30s"
    http_request: str = "10s"
    check: str = "2s"
    hard_stop_after: str = "30s"  # how long old workers may serve after a reload


@dataclass(frozen=True)
class HaproxyConfig:
    stats_socket: Path
    frontends: tuple[HttpFrontend | TcpFrontend, ...] = ()
    backends: tuple[Backend, ...] = ()
    prometheus_bind: str | None = None  # "127.0.0.1:9101" serves /metrics
    timeouts: Timeouts = Timeouts()
    maxconn: int = 4096
    reuseport: bool = False  # off, so a taken port fails the start instead of being shared


def render_config(cfg: HaproxyConfig) -> str:
    """The haproxy.cfg text for ``cfg``; pure and deterministic."""
    blocks = [_global(cfg), _defaults(cfg.timeouts)]
    blocks += [_frontend(f) for f in cfg.frontends]
    if cfg.prometheus_bind:
        blocks.append(_section("frontend prometheus", [
            "mode http", f"bind {cfg.prometheus_bind}", "no log",
            "http-request use-service prometheus-exporter if { path /metrics }",
        ]))
    blocks += [_backend(b) for b in cfg.backends]
    return "\n".join(blocks)


def _section(title: str, lines: Sequence[str]) -> str:
    return title + "\n" + "".join(f"    {ln}\n" for ln in lines)


def _global(cfg: HaproxyConfig) -> str:
    lines = [
        f"stats socket {cfg.stats_socket} mode 600 level admin expose-fd listeners",
        "stats timeout 30s",
        f"maxconn {cfg.maxconn}",
        f"hard-stop-after {cfg.timeouts.hard_stop_after}",
        # HAProxy's own HTTP client (Lua, OCSP updates) is not used: without this it loads
        # and parses every system CA certificate at each start and reload (~30 ms here).
        "httpclient.ssl.verify none",
    ]
    return _section("global", [*lines, *([] if cfg.reuseport else ["noreuseport"])])


def _defaults(t: Timeouts) -> str:
    return _section("defaults", [
        "mode http", f"timeout connect {t.connect}", f"timeout client {t.client}",
        f"timeout server {t.server}", f"timeout http-request {t.http_request}",
        f"timeout check {t.check}",
    ])


def _frontend(f: HttpFrontend | TcpFrontend) -> str:
    if isinstance(f, TcpFrontend):
        return _section(f"frontend {f.name}", ["mode tcp", f"bind {f.bind}",
                                               f"default_backend {f.backend}"])
    # Requests HAProxy may send again to another server (with a backend's `retry-on`): only
    # those that are safe to repeat.
    lines = ["mode http", f"bind {f.bind}", "option forwardfor",
             "http-request disable-l7-retry unless { method GET HEAD OPTIONS }"]
    for i, route in enumerate(f.routes):
        conds = []
        if route.host:
            lines.append(f"acl route{i}_host req.hdr(host),field(1,:) -m str -i {route.host}")
            conds.append(f"route{i}_host")
        if route.path_prefix:
            lines.append(f"acl route{i}_path path_beg {route.path_prefix}")
            conds.append(f"route{i}_path")
        lines.append(f"use_backend {route.backend}" + (f" if {' '.join(conds)}" if conds else ""))
    if f.default_backend:
        lines.append(f"default_backend {f.default_backend}")
    return _section(f"frontend {f.name}", lines)


def _backend(b: Backend) -> str:
    lines = [f"mode {b.mode}", f"balance {b.balance}"]
    if isinstance(b.health, HttpCheck):
        lines.append(f"option httpchk GET {b.health.path}")
        if b.health.expect_status is not None:
            lines.append(f"http-check expect status {b.health.expect_status}")
    default = f"default-server inter {b.check_interval} rise {b.rise} fall {b.fall}"
    if b.init_addr_none or any(not _is_ip(s.address) for s in b.servers):
        default += " init-addr last,libc,none"
    lines.append(default)
    lines += [_server(s, b.health is not None) for s in b.servers]
    return _section(f"backend {b.name}", lines)


def _server(s: Server, checked: bool) -> str:
    flags = [f"weight {s.weight}"]
    flags += ["check"] if s.check and checked else []
    flags += ["backup"] if s.backup else []
    flags += ["disabled"] if s.disabled else []
    return f"server {s.name} {s.address}:{s.port} " + " ".join(flags)


def _is_ip(address: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, address)
            return True
        except OSError:
            continue
    return False


# Runtime API (stats socket)

ServerState = Literal["ready", "drain", "maint"]
_STAT_TYPES = {"0": "frontend", "1": "backend", "2": "server", "3": "listener"}


@dataclass(frozen=True)
class StatRow:
    """One line of ``show stat``: a frontend, a backend or a server."""

    proxy: str
    name: str
    type: str  # frontend | backend | server | listener
    status: str  # UP, DOWN, DRAIN, MAINT, OPEN, "UP 1/3"…
    weight: int
    current_sessions: int
    total_sessions: int
    lb_total: int
    check_status: str
    address: str
    hrsp_2xx: int
    hrsp_5xx: int
    hrsp_1xx: int = 0
    hrsp_3xx: int = 0
    hrsp_4xx: int = 0
    hrsp_other: int = 0
    response_time_ms: int = 0  # rtime: mean over the last 1024 responses


def _int(value: str) -> int:
    return int(value) if value.strip().lstrip("-").isdigit() else 0


def parse_show_stat(text: str) -> list[StatRow]:
    """Parse the CSV of ``show stat`` (its header line starts with ``# ``)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or not lines[0].startswith("# "):
        raise ValueError(f"not a show stat output: {text[:80]!r}")
    reader = csv.DictReader([lines[0][2:], *lines[1:]])
    return [
        StatRow(
            proxy=r["pxname"], name=r["svname"], type=_STAT_TYPES.get(r["type"], r["type"]),
            status=r["status"], weight=_int(r["weight"]), current_sessions=_int(r["scur"]),
            total_sessions=_int(r["stot"]), lb_total=_int(r["lbtot"]),
            check_status=r["check_status"], address=r.get("addr") or "",
            hrsp_2xx=_int(r["hrsp_2xx"]), hrsp_5xx=_int(r["hrsp_5xx"]),
            hrsp_1xx=_int(r.get("hrsp_1xx") or ""), hrsp_3xx=_int(r.get("hrsp_3xx") or ""),
            hrsp_4xx=_int(r.get("hrsp_4xx") or ""), hrsp_other=_int(r.get("hrsp_other") or ""),
            response_time_ms=_int(r.get("rtime") or ""),
        )
        for r in reader
    ]


def socket_command(path: Path, command: str, *, timeout: float = 5.0) -> str:
    """Send one command to an HAProxy CLI socket and read the reply until it closes."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(command.encode() + b"\n")
            sock.shutdown(socket.SHUT_WR)  # the master CLI answers, then closes on EOF
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except OSError as exc:
        raise TemporaryError(f"haproxy socket {path} did not answer {command!r}: {exc}",
                             delay=0.5, hint="is haproxy running?") from exc
    return b"".join(chunks).decode(errors="replace")


class HaproxyRuntime:
    """The runtime API on the stats socket (``level admin``)."""

    def __init__(self, stats_socket: Path) -> None:
        self.stats_socket = Path(stats_socket)

    def command(self, command: str) -> str:
        return socket_command(self.stats_socket, command)

    def _change(self, command: str) -> None:
        reply = self.command(command).strip()
        if reply and not reply.lower().startswith(("new server registered", "server deleted")):
            raise PermanentError(f"haproxy refused {command!r}: {reply}",
                                 hint="check the backend and server names")

    def show_stat(self) -> list[StatRow]:
        return parse_show_stat(self.command("show stat"))

    def server(self, backend: str, server: str) -> StatRow:
        for row in self.show_stat():
            if row.proxy == backend and row.name == server:
                return row
        raise PermanentError(f"haproxy has no server {backend}/{server}")

    def set_weight(self, backend: str, server: str, weight: int) -> None:
        self._change(f"set server {backend}/{server} weight {weight}")

    def set_state(self, backend: str, server: str, state: ServerState) -> None:
        self._change(f"set server {backend}/{server} state {state}")

    def add_server(self, backend: str, server: Server) -> None:
        """Add a server to a running backend; it starts in maintenance until ``ready``."""
        flags = f" weight {server.weight}" + (" check" if server.check else "")
        self._change(f"add server {backend}/{server.name} {server.address}:{server.port}{flags}")
        if server.check:
            self._change(f"enable health {backend}/{server.name}")

    def del_server(self, backend: str, server: str) -> None:
        """Remove a server; it is put in maintenance first, as haproxy requires."""
        self.set_state(backend, server, "maint")
        self._change(f"del server {backend}/{server}")


# The process


@dataclass(frozen=True)
class ProcEntry:
    pid: int
    type: str  # master | worker
    reloads: int
    failed: int


def parse_show_proc(text: str) -> list[ProcEntry]:
    """The master's ``show proc``: the master, its current workers, then old workers."""
    entries = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3 or not parts[0].isdigit():
            continue
        failed = line.split("[failed:")[1].split("]")[0] if "[failed:" in line else "0"
        entries.append(ProcEntry(int(parts[0]), parts[1], _int(parts[2]), _int(failed)))
    return entries


class HaproxyProcess:
    """``haproxy -W -S`` (master-worker) with its config, sockets and pid file in ``state_dir``
    (the master socket in ``socket_dir`` when given: a unix socket path holds 108 bytes)."""

    def __init__(self, state_dir: Path, *, binary: str = "haproxy",
                 socket_dir: Path | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.binary = binary
        self.config_path = self.state_dir / "haproxy.cfg"
        self.master_socket = Path(socket_dir or state_dir) / "master.sock"
        self.pid_file = self.state_dir / "haproxy.pid"
        self.log_path = self.state_dir / "haproxy.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def validate(self, config: str) -> Path:
        """Write ``config`` next to the live one and check it with ``haproxy -c``."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        candidate = self.state_dir / "haproxy.cfg.new"
        candidate.write_text(config)
        done = run([self.binary, "-c", "-f", str(candidate)], timeout=30)
        if done.returncode != 0:
            raise ToolError(f"haproxy config is invalid: {_alerts(done.stderr + done.stdout)}",
                            argv=done.argv, stderr=done.stderr,
                            hint=f"the rejected config is in {candidate}")
        return candidate

    def start(self, config: str, *, timeout: float = 10.0) -> None:
        """Start; returns once a worker serves, raises with haproxy's log if not.

        haproxy checks the config itself as it starts (no separate ``haproxy -c``, which
        costs a process start); when it exits during start, the config is checked to say
        precisely what it rejected."""
        if self.running():
            raise PermanentError(f"haproxy already runs from {self.state_dir}",
                                 hint="reload it or stop it first")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(config)
        self.master_socket.unlink(missing_ok=True)
        argv = [self.binary, "-W", "-S", f"{self.master_socket},mode,600",
                "-f", str(self.config_path), "-p", str(self.pid_file)]
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            self._await(lambda procs: any(p.type == "worker" for p in procs), timeout, "start")
        except ToolError:
            self.validate(config)  # raises "haproxy config is invalid: <its alerts>"
            raise

    def reload(self, config: str, *, timeout: float = 10.0) -> None:
        """Validate, then reload without dropping connections (the master re-executes)."""
        candidate = self.validate(config)
        before = self._master()
        candidate.replace(self.config_path)
        try:
            socket_command(self.master_socket, "reload", timeout=timeout)
        except TemporaryError:
            pass  # the master closes the connection as it re-executes
        self._await(lambda procs: _reloaded(before, procs), timeout, "reload")
        if self._master().failed > before.failed:
            raise ToolError(f"haproxy reload failed: {self._log_tail()}",
                            hint="the previous workers keep serving the old config")

    def stop(self, *, timeout: float = 10.0) -> None:
        """Soft-stop (SIGUSR1: finish current requests), then SIGTERM, then SIGKILL."""
        pid = self.pid()
        if pid is None or not _alive(pid):
            self._reap()
            return
        for sig, wait in ((signal.SIGUSR1, timeout), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            _signal(pid, sig)
            if self._wait_exit(pid, wait):
                break
        self.pid_file.unlink(missing_ok=True)
        self.master_socket.unlink(missing_ok=True)

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def running(self) -> bool:
        pid = self.pid()
        return pid is not None and _alive(pid)

    def processes(self) -> list[ProcEntry]:
        return parse_show_proc(socket_command(self.master_socket, "show proc"))

    def _master(self) -> ProcEntry:
        return next(p for p in self.processes() if p.type == "master")

    def _await(self, done: Callable[[list[ProcEntry]], bool], timeout: float, what: str) -> None:
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise ToolError(f"haproxy exited during {what}: {self._log_tail()}",
                                hint=f"see {self.log_path}")
            try:
                if done(self.processes()):
                    return
            except (TemporaryError, StopIteration):
                pass
            time.sleep(0.01 if time.monotonic() - started < 1.0 else 0.05)
        raise TemporaryError(f"haproxy did not finish its {what} in {timeout}s",
                             delay=2.0, hint=f"see {self.log_path}")

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._reap()
            if not _alive(pid):
                return True
            time.sleep(0.05)
        return False

    def _reap(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            self._proc = None

    def _log_tail(self) -> str:
        try:
            return tail(self.log_path.read_text(errors="replace"), 8)
        except OSError:
            return "no log"


def _alerts(output: str) -> str:
    alerts = [ln.split(" : ", 1)[-1] for ln in output.splitlines() if ln.startswith("[ALERT]")]
    return "; ".join(alerts) or tail(output)


def _reloaded(before: ProcEntry, procs: Sequence[ProcEntry]) -> bool:
    masters = [p for p in procs if p.type == "master"]
    return bool(masters) and masters[0].reloads > before.reloads


def _alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
