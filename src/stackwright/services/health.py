"""Health of one replica, checked from the host on its published port (or by exec)."""

from __future__ import annotations

import http.client
import socket
from dataclasses import dataclass

from stackwright.services.spec import HealthCheckSpec, seconds
from stackwright.tools.podman import Podman

_SNIPPET = 160


@dataclass(frozen=True)
class HealthResult:
    ok: bool
    detail: str  # what the check saw: "HTTP 404: <body>", "connection refused", exit code


def check_http(port: int, path: str, timeout: float, host: str = "127.0.0.1") -> HealthResult:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        resp = conn.getresponse()
        body = resp.read(4096).decode(errors="replace").strip()
    except (OSError, http.client.HTTPException) as exc:
        return HealthResult(False, f"GET http://{host}:{port}{path}: {_reason(exc)}")
    finally:
        conn.close()
    snippet = body[:_SNIPPET].replace("\n", " ")
    ok = 200 <= resp.status < 400
    return HealthResult(ok, f"GET http://{host}:{port}{path}: HTTP {resp.status} {snippet}")


def check_tcp(port: int, timeout: float, host: str = "127.0.0.1") -> HealthResult:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return HealthResult(True, f"tcp {host}:{port}: connected")
    except OSError as exc:
        return HealthResult(False, f"tcp {host}:{port}: {_reason(exc)}")


def check_command(podman: Podman, container: str, command: str) -> HealthResult:
    done = podman.container_exec(container, ["/bin/sh", "-c", command])
    out = (done.stdout + done.stderr).strip()[-_SNIPPET:]
    return HealthResult(done.returncode == 0, f"{command!r} exited {done.returncode}: {out}")


def check(
    podman: Podman, hc: HealthCheckSpec | None, container: str, host_port: int | None,
    running: bool,
) -> HealthResult:
    """One check of one replica; without a health check a running container is healthy."""
    if not running:
        return HealthResult(False, f"container {container} is not running")
    if hc is None:
        return HealthResult(True, "running (no health check)")
    timeout = seconds(hc.timeout)
    if hc.kind == "command":
        assert hc.command is not None
        return check_command(podman, container, hc.command)
    if host_port is None:
        return HealthResult(False, "the health-check port is not published")
    if hc.kind == "http":
        assert hc.http is not None
        return check_http(host_port, hc.http, timeout)
    return check_tcp(host_port, timeout)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return f"{type(exc).__name__}: {exc}".rstrip(": ")
