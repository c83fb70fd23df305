"""A service's servers in every HAProxy that routes to it, changed through the runtime API.

No reload: servers are added (``add server``), drained (``state drain``) and deleted
(``del server``) on the stats socket of each LoadBalancer listed in the route table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from stackwright.errors import PermanentError, TemporaryError
from stackwright.services.replicas import Replica
from stackwright.services.routes import BackendEntry, RouteTable
from stackwright.tools.haproxy import HaproxyRuntime, StatRow


@dataclass(frozen=True)
class Target:
    lb: str
    runtime: HaproxyRuntime
    backend: BackendEntry


class ServiceTraffic:
    """The backends routing to ``service`` across the load balancers of one environment."""

    def __init__(self, table: RouteTable, service: str, *, checked: bool = True,
                 log: Callable[[str], None] = lambda line: None) -> None:
        self.table = table
        self.service = service
        self.checked = checked
        self.log = log

    def targets(self) -> list[Target]:
        """Backends of LBs whose stats socket answers (a stopped LB re-reads the table when
        it starts again)."""
        out: list[Target] = []
        for lb in self.table.lbs():
            backends = lb.backends_for(self.service)
            if not backends:
                continue
            runtime = HaproxyRuntime(Path(lb.stats_socket))
            try:
                runtime.command("show info")
            except TemporaryError:
                self.log(f"load balancer {lb.name} does not answer; it will pick up the "
                         "servers when it starts")
                continue
            out.extend(Target(lb.name, runtime, b) for b in backends)
        return out

    def add(self, targets: Sequence[Target], replicas: Sequence[Replica],
            weight: int = 100) -> None:
        """Add the replicas to every backend, ready, at ``weight`` (0: UP but sent nothing,
        as a canary or a blue/green revision waits)."""
        for t in targets:
            for r in replicas:
                port = r.ports.get(t.backend.port)
                if port is None:
                    raise PermanentError(
                        f"load balancer {t.lb} routes to port {t.backend.port} of "
                        f"{self.service}, which the service does not publish",
                        hint="add the port to the service's ports")
                self._add_one(t, r.server, port, weight)

    def _add_one(self, t: Target, server: str, port: int, weight: int) -> None:
        ref = f"{t.backend.backend}/{server}"
        flags = " check inter 1s rise 1 fall 2" if self.checked else ""
        reply = t.runtime.command(
            f"add server {ref} 127.0.0.1:{port} weight {weight}{flags}").strip()
        if reply.lower().startswith("already exists"):
            _expect(t.runtime, f"set server {ref} state maint")
            _expect(t.runtime, f"set server {ref} weight {weight}")
            _expect(t.runtime, f"set server {ref} addr 127.0.0.1 port {port}", "ip changed",
                    "no need to change", "port changed")
        elif not reply.lower().startswith("new server registered"):
            raise PermanentError(f"haproxy {t.lb} refused to add {ref}: {reply}")
        if self.checked:
            _expect(t.runtime, f"enable health {ref}")
        _expect(t.runtime, f"set server {ref} state ready")

    def wait_up(self, targets: Sequence[Target], replicas: Sequence[Replica],
                timeout: float) -> str | None:
        """None once every server is UP in every backend, else what was seen at timeout."""
        want = {(t.backend.backend, r.server) for t in targets for r in replicas}
        deadline = time.monotonic() + timeout
        while True:
            rows = self._rows(targets)
            pending = {k: rows.get(k) for k in want if not _is_up(rows.get(k))}
            if not pending:
                return None
            if time.monotonic() > deadline:
                return "; ".join(f"{b}/{s} is {_describe(row)} in haproxy"
                                 for (b, s), row in sorted(pending.items()))
            time.sleep(0.1)

    def set_weights(self, targets: Sequence[Target], weights: Mapping[str, int]) -> None:
        """Server name -> weight in every backend, in one runtime-API call per load balancer
        (commands joined by ``;`` run back to back, between two requests: an atomic switch)."""
        by_runtime: dict[int, tuple[Target, list[str]]] = {}
        for t in targets:
            commands = [f"set server {t.backend.backend}/{server} weight {w}"
                        for server, w in sorted(weights.items())]
            by_runtime.setdefault(id(t.runtime), (t, []))[1].extend(commands)
        for t, commands in by_runtime.values():
            reply = self._try(t, ";".join(commands))
            bad = [ln for ln in reply.splitlines() if ln.strip()]
            if bad:
                raise PermanentError(f"haproxy {t.lb} refused a weight change: {bad[0]}")

    def weights(self, targets: Sequence[Target]) -> dict[str, dict[str, int]]:
        """Backend -> server -> weight as HAProxy reports it now."""
        out: dict[str, dict[str, int]] = {}
        for (backend, server), row in self._rows(targets).items():
            if any(t.backend.backend == backend for t in targets):
                out.setdefault(backend, {})[server] = row.weight
        return out

    def stat_rows(self, targets: Sequence[Target]) -> list[StatRow]:
        """The server rows of the service's backends (for analysis)."""
        names = {t.backend.backend for t in targets}
        return [row for (backend, _), row in self._rows(targets).items() if backend in names]

    def drain(self, targets: Sequence[Target], replicas: Sequence[Replica]) -> None:
        for t in targets:
            for r in replicas:
                self._try(t, f"set server {t.backend.backend}/{r.server} state drain")

    def wait_drained(self, targets: Sequence[Target], replicas: Sequence[Replica],
                     timeout: float) -> None:
        want = {(t.backend.backend, r.server) for t in targets for r in replicas}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self._rows(targets)
            busy = [k for k in want if k in rows and rows[k].current_sessions > 0]
            if not busy:
                return
            time.sleep(0.1)
        self.log(f"sessions still open after {timeout}s of draining; removing anyway")

    def delete(self, targets: Sequence[Target], replicas: Sequence[Replica]) -> None:
        for t in targets:
            for r in replicas:
                ref = f"{t.backend.backend}/{r.server}"
                self._try(t, f"set server {ref} state maint")
                self._delete_one(t, ref)

    def _delete_one(self, t: Target, ref: str) -> None:
        reply = ""
        for _ in range(20):  # idle connections may hold a server for a moment
            reply = self._try(t, f"del server {ref}")
            if reply.lower().startswith(("server deleted", "no such server", "no such")):
                return
            time.sleep(0.1)
        self.log(f"haproxy {t.lb} kept {ref} in maintenance: {reply}")

    def _try(self, t: Target, command: str) -> str:
        try:
            return t.runtime.command(command).strip()
        except TemporaryError as exc:
            self.log(f"haproxy {t.lb}: {exc.message}")
            return ""

    def _rows(self, targets: Sequence[Target]) -> dict[tuple[str, str], StatRow]:
        rows: dict[tuple[str, str], StatRow] = {}
        for runtime in {id(t.runtime): t.runtime for t in targets}.values():
            try:
                stats = runtime.show_stat()
            except (TemporaryError, ValueError):
                continue
            rows.update({(r.proxy, r.name): r for r in stats if r.type == "server"})
        return rows


def _expect(runtime: HaproxyRuntime, command: str, *accepted: str) -> None:
    reply = runtime.command(command).strip()
    if reply and not reply.lower().startswith(accepted or ("\x00",)):
        raise PermanentError(f"haproxy refused {command!r}: {reply}")


def _is_up(row: StatRow | None) -> bool:
    return row is not None and row.status == "UP"


def _describe(row: StatRow | None) -> str:
    if row is None:
        return "missing"
    return f"{row.status} (check: {row.check_status or 'none'})"
