"""Controllers that keep services and load balancers as the last apply left them.

``services``: every tick, one ``podman ps`` of the environment's containers; a service whose
current revision has fewer running replicas than recorded, or has a dead container, is
repaired (the dead replica is taken out of HAProxy and removed, a new one started, checked
healthy and added). Each tick also runs the HTTP or TCP health check of every replica in
HAProxy; one that fails ``healthCheck.retries`` checks in a row is replaced the same way,
although it still runs (``healthChecks: false`` turns this off). ``loadbalancers``: an
HAProxy whose master process is gone is started again with the routes of the moment. Both
change things only through :meth:`ControllerContext.repair`, so each repair is a recorded,
audited run.

```yaml
settings:
  controllers:
    services: {interval: 1, healthChecks: true}   # seconds between looks
    loadbalancers: {enabled: true}
```
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from stackwright.core.controllers import ControllerContext, interval_setting
from stackwright.core.model import Address, Recorded, Status
from stackwright.services import health
from stackwright.services.loadbalancer import process_for, state_dir
from stackwright.services.replicas import LABEL_REVISION, LABEL_SERVICE
from stackwright.services.routes import RouteTable, ServiceEntry
from stackwright.services.service import podman_for
from stackwright.services.spec import ServiceSpec, seconds
from stackwright.tools.podman import StackwrightLabels
from stackwright.tools.podman_facts import ContainerSummary


def needs_repair(record: Recorded, containers: Sequence[ContainerSummary]) -> str | None:
    """Why the service's live replicas fall short of its record, or None (pure)."""
    revision = str(record.outputs.get("revision") or "")
    wanted = int(record.inputs.get("replicas", 1))
    service = str(record.id or "")
    mine = [c for c in containers if c.labels.get(LABEL_SERVICE) == service]
    dead = [c.name for c in mine if c.state != "running"]
    running = [c for c in mine if c.state == "running" and c.labels.get(LABEL_REVISION)
               == revision]
    if dead:
        return f"replica(s) not running: {', '.join(sorted(dead))}"
    if len(running) < wanted:
        return f"{len(running)} of {wanted} replicas running"
    return None


class HealthWatch:
    """Consecutive failed health checks of the replicas HAProxy serves, by container: a
    replica that fails ``retries`` checks in a row (one a tick) is unhealthy although it runs.
    HTTP and TCP checks only; a ``command`` check would cost a ``podman exec`` a replica a
    tick (HAProxy still takes such a replica out of rotation)."""

    def __init__(self) -> None:
        self.failures: dict[str, int] = {}

    def unhealthy(self, record: Recorded, entry: ServiceEntry | None) -> str | None:
        """Why a served replica of the service counts as unhealthy now, or None."""
        hc = ServiceSpec.model_validate(dict(record.inputs)).healthCheck
        if entry is None or hc is None or hc.kind == "command" or entry.health.port is None:
            return None
        found = None
        for server in entry.servers:
            host_port = server.ports.get(entry.health.port)
            if host_port is None:
                continue
            result = (health.check_http(host_port, hc.http or "/", seconds(hc.timeout))
                      if hc.kind == "http" else health.check_tcp(host_port, seconds(hc.timeout)))
            count = 0 if result.ok else self.failures.get(server.container, 0) + 1
            self.failures[server.container] = count
            if count >= hc.retries and found is None:
                found = (f"replica {server.container} failed {count} health checks in a row: "
                         f"{result.detail}")
        return found

    def forget(self, containers: Sequence[str]) -> None:
        for name in containers:
            self.failures.pop(name, None)


class ServiceController:
    name: ClassVar[str] = "services"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.interval = interval_setting(settings, 1.0)
        self.health = HealthWatch() if settings.get("healthChecks", True) else None

    def tick(self, ctx: ControllerContext) -> None:
        services = {a: r for a, r in ctx.resources("Service").items()
                    if r.status is Status.READY and r.id}
        if not services:
            return
        labels = StackwrightLabels(ctx.project, ctx.environment).as_dict()
        first = ctx.driver_context(next(iter(services)))
        podman = podman_for(first)
        containers = podman.container_list(labels)
        table = RouteTable.at(Path(first.project_dir), ctx.environment)
        for address, record in sorted(services.items()):
            reason = needs_repair(record, containers)
            if reason is None and self.health is not None:
                reason = self.health.unhealthy(record, table.service(str(record.id)))
            if reason is not None and not ctx.stop.is_set():
                self._repair(ctx, address, reason)
        if self.health is not None:
            names = {c.name for c in containers}
            self.health.forget([n for n in self.health.failures if n not in names])

    def _repair(self, ctx: ControllerContext, address: Address, reason: str) -> None:
        ctx.event("service.repair_started", address=str(address), reason=reason)
        started = time.monotonic()
        done = ctx.repair(address, f"repair: {reason}")
        ctx.event("service.repaired" if done else "service.repair_skipped",
                  address=str(address), seconds=round(time.monotonic() - started, 3),
                  **({} if done else {"why": "an apply holds the lock"}))


class LoadBalancerController:
    name: ClassVar[str] = "loadbalancers"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.interval = interval_setting(settings, 2.0)

    def tick(self, ctx: ControllerContext) -> None:
        for address, record in sorted(ctx.resources("LoadBalancer").items()):
            if record.status is not Status.READY or ctx.stop.is_set():
                continue
            directory = state_dir(ctx.driver_context(address), address.name)
            if process_for(directory).running():
                continue
            ctx.event("loadbalancer.restart_started", address=str(address))
            started = time.monotonic()
            done = ctx.repair(address, "repair: haproxy is not running")
            ctx.event("loadbalancer.restarted" if done else "loadbalancer.restart_skipped",
                      address=str(address), seconds=round(time.monotonic() - started, 3))


def service_controller(settings: Mapping[str, Any]) -> ServiceController:
    return ServiceController(settings)


def loadbalancer_controller(settings: Mapping[str, Any]) -> LoadBalancerController:
    return LoadBalancerController(settings)
