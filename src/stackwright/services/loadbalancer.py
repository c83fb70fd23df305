"""The ``LoadBalancer`` kind: one HAProxy (master-worker) in front of services."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from stackwright.core.kinds import Driver, DriverContext, Kind
from stackwright.core.model import Applied, Observed, Recorded
from stackwright.errors import PermanentError
from stackwright.local.holders import port_holder
from stackwright.ports import MAX_SOCKET_PATH, socket_dir
from stackwright.services.identity import Identity, identity
from stackwright.services.routes import BackendEntry, LbEntry, RouteTable, ServiceEntry, run_dir
from stackwright.services.spec import LoadBalancerSpec
from stackwright.tools.haproxy import (
    Backend,
    HaproxyConfig,
    HaproxyProcess,
    HttpCheck,
    HttpFrontend,
    Route,
    Server,
    TcpCheck,
    TcpFrontend,
    Timeouts,
    render_config,
)


class LoadBalancerKind(Kind):
    """An HAProxy in front of services: HTTP routes by host and path, TCP ports, metrics.

    ```yaml
    apiVersion: stackwright.dev/v1
    kind: LoadBalancer
    metadata: {name: edge}
    spec:
      http:
        port: 8000
        routes:
          - {host: api.local, service: "${{ Service.api.id }}", port: 8080}
          - {pathPrefix: /, service: "${{ Service.web.id }}", port: 8080}
      tcp:
        - {port: 6000, service: "${{ Service.cache.id }}", servicePort: 6379}
      metricsPort: 9101
    ```

    HAProxy runs detached (it outlives the CLI) with its config, sockets and log under
    ``.stackwright/run/<env>/haproxy/<name>/``; a change of the spec is a hitless reload.
    Services add and drain their replicas through the runtime API, so rollouts never reload.
    Outputs: ``url``, ``tcp`` (addresses), ``metrics_url``, ``stats_socket``.
    """

    name: ClassVar[str] = "LoadBalancer"
    spec_model = LoadBalancerSpec
    outputs = ("url", "tcp", "metrics_url", "stats_socket")
    drivers = {"local": lambda: LocalLoadBalancerDriver()}

    def predict_outputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        return _urls(LoadBalancerSpec.model_validate(dict(inputs)))


def state_dir(ctx: DriverContext, name: str) -> Path:
    return run_dir(ctx.project_dir, ctx.environment) / "haproxy" / name


def process_for(directory: Path) -> HaproxyProcess:
    return HaproxyProcess(directory, socket_dir=socket_dir(directory))


def backend_name(service: str, port: int, mode: str = "http") -> str:
    return f"{service}_{port}" + ("_tcp" if mode == "tcp" else "")


def backends_of(spec: LoadBalancerSpec) -> list[BackendEntry]:
    """One backend per (service, port, mode) routed to, in spec order."""
    keys = [(r.service, r.port, "http") for r in (spec.http.routes if spec.http else [])]
    keys += [(t.service, t.servicePort, "tcp") for t in spec.tcp]
    return [BackendEntry(backend_name(*k), k[0], k[1]) for k in dict.fromkeys(keys)]


def haproxy_config(spec: LoadBalancerSpec, stats_socket: Path, table: RouteTable) -> HaproxyConfig:
    """The whole config; servers come from the services' route entries (pure but for reads)."""
    entries = {b.service: table.service(b.service) for b in backends_of(spec)}
    backends = tuple(_backend(b, entries[b.service], spec, b.backend.endswith("_tcp"))
                     for b in backends_of(spec))
    frontends: list[HttpFrontend | TcpFrontend] = []
    if spec.http:
        routes = tuple(Route(backend_name(r.service, r.port), r.host, r.pathPrefix)
                       for r in spec.http.routes)
        frontends.append(HttpFrontend("http", f"{spec.address}:{spec.http.port}", routes))
    frontends += [TcpFrontend(f"tcp_{t.port}", f"{spec.address}:{t.port}",
                              backend_name(t.service, t.servicePort, "tcp")) for t in spec.tcp]
    metrics = f"{spec.address}:{spec.metricsPort}" if spec.metricsPort else None
    return HaproxyConfig(stats_socket=stats_socket, frontends=tuple(frontends),
                         backends=backends, prometheus_bind=metrics,
                         timeouts=Timeouts(connect="1s"))


def render(config: HaproxyConfig) -> str:
    """The config text, with retries on another server when a connection fails (a replica
    that died before its health check noticed must not fail a request), and, for GET, HEAD
    and OPTIONS, when the server closed without an answer (a replica killed while it held
    the request)."""
    text = render_config(config)
    head = "defaults\n"
    if head not in text:
        raise PermanentError("unexpected haproxy config layout: no defaults section")
    return text.replace(head, head + "    retries 3\n    option redispatch 1\n"
                        "    retry-on conn-failure empty-response\n", 1)


def _backend(b: BackendEntry, entry: ServiceEntry | None, spec: LoadBalancerSpec,
             tcp: bool) -> Backend:
    servers = tuple(Server(s.name, "127.0.0.1", s.ports[b.port], weight=s.weight)
                    for s in (entry.servers if entry else ()) if b.port in s.ports)
    health: HttpCheck | TcpCheck | None = None
    if entry is not None and entry.health.kind != "none":
        http = entry.health.kind == "http" and entry.health.port == b.port and not tcp
        health = HttpCheck(entry.health.path or "/", None) if http else TcpCheck()
    return Backend(b.backend, servers, mode="tcp" if tcp else "http", health=health,
                   check_interval=spec.checkInterval, rise=1, fall=2)


class LocalLoadBalancerDriver(Driver):
    """HAProxy started detached from the project's run directory."""

    def read(self, ctx: DriverContext, recorded: Recorded) -> Observed | None:
        process = process_for(state_dir(ctx, recorded.address.name))
        if not process.running():
            return None
        spec = LoadBalancerSpec.model_validate(dict(recorded.inputs))
        return Observed(outputs=self._outputs(spec, process))

    def create(self, ctx: DriverContext, inputs: Mapping[str, Any]) -> Applied:
        return self._apply(ctx, identity(ctx), inputs, before=None)

    def update(
        self, ctx: DriverContext, recorded: Recorded, inputs: Mapping[str, Any]
    ) -> Applied:
        before = LoadBalancerSpec.model_validate(dict(recorded.inputs))
        return self._apply(ctx, identity(ctx, recorded.address.name, recorded.id), inputs, before)

    def delete(self, ctx: DriverContext, recorded: Recorded) -> None:
        directory = state_dir(ctx, recorded.address.name)
        table = RouteTable.at(Path(ctx.project_dir), ctx.environment)
        with table.locked():
            table.remove_lb(recorded.address.name)
        sockets = socket_dir(directory)
        HaproxyProcess(directory, socket_dir=sockets).stop()
        if sockets != directory:
            sockets.unlink(missing_ok=True)
        shutil.rmtree(directory, ignore_errors=True)

    def suspend(self, ctx: DriverContext, recorded: Recorded) -> bool:
        """Soft-stop HAProxy (current requests finish), keeping its directory and its entry
        in the route table; the next apply (or the daemon) starts it with the routes then."""
        process = process_for(state_dir(ctx, recorded.address.name))
        if not process.running():
            return False
        ctx.log(f"stopping haproxy (pid {process.pid()})")
        process.stop()
        return True

    def _apply(self, ctx: DriverContext, ident: Identity, inputs: Mapping[str, Any],
               before: LoadBalancerSpec | None) -> Applied:
        spec = LoadBalancerSpec.model_validate(dict(inputs))
        process = process_for(state_dir(ctx, ident.name))
        stats = process.master_socket.parent / "stats.sock"
        _check_socket_path(process.master_socket)
        running = process.running()
        held = set(before.listen_ports()) if before is not None and running else set()
        _check_ports_free(spec, held)
        table = RouteTable.at(Path(ctx.project_dir), ctx.environment)
        with table.locked():
            config = render(haproxy_config(spec, stats, table))
            if running:
                process.reload(config)
            else:
                process.start(config)
            table.write_lb(LbEntry(ident.name, str(stats), tuple(backends_of(spec))))
        ctx.log(f"haproxy serves from {process.state_dir}")
        return Applied(id=ident.id, outputs=self._outputs(spec, process))

    def _outputs(self, spec: LoadBalancerSpec, process: HaproxyProcess) -> dict[str, Any]:
        return {**_urls(spec), "stats_socket": str(process.master_socket.parent / "stats.sock")}


def _urls(spec: LoadBalancerSpec) -> dict[str, Any]:
    return {
        "url": f"http://{spec.address}:{spec.http.port}" if spec.http else None,
        "tcp": [f"{spec.address}:{t.port}" for t in spec.tcp],
        "metrics_url": (f"http://{spec.address}:{spec.metricsPort}/metrics"
                        if spec.metricsPort else None),
    }


def _check_socket_path(path: Path) -> None:
    if len(str(path)) > MAX_SOCKET_PATH:
        raise PermanentError(f"the HAProxy socket path {path} is too long for a unix socket",
                             hint="move the project to a shorter path")


def _check_ports_free(spec: LoadBalancerSpec, held: set[int]) -> None:
    fields = ([("http.port", spec.http.port)] if spec.http else [])
    fields += [(f"tcp[{i}].port", t.port) for i, t in enumerate(spec.tcp)]
    fields += [("metricsPort", spec.metricsPort)] if spec.metricsPort else []
    for name, port in fields:
        if port in held:
            continue
        with socket.socket() as sock:
            # as HAProxy does: connections in TIME_WAIT do not make a port taken
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((spec.address, port))
            except OSError as exc:
                raise port_taken(port, name, spec.address, exc) from exc


def port_taken(port: int, name: str, address: str, exc: OSError) -> PermanentError:
    """The error for a taken port, naming who holds it (another checkout's HAProxy, say)."""
    holder = port_holder(port)
    by = f" by {holder.describe()}" if holder else ""
    stop = (f"stop it there (stackwright -C {holder.project_dir} --env {holder.env} down)"
            if holder and holder.project_dir else f"stop what listens on {port}")
    return PermanentError(
        f"port {port} ({name}) on {address} is already in use{by}: {exc.strerror}",
        hint=f"choose another {name} (when a variable sets it: --var NAME=PORT), or {stop}")


LOADBALANCER_KIND = LoadBalancerKind()
