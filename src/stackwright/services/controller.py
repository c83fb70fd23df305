"""Controllers that keep services and load balancers as the last apply left them.

``services``: every tick, one ``podman ps`` of the environment's containers; a service whose
current revision has fewer running replicas than recorded, or has a dead container, is
repaired (the dead replica is taken out of HAProxy and removed, a new one started, checked
healthy and added). ``loadbalancers``: an HAProxy whose master process is gone is started
again with the routes of the moment. Both change things only through
:meth:`ControllerContext.repair`, so each repair is a recorded, audited run.

```yaml
settings:
  controllers:
    services: {interval: 1}        # seconds between looks
    loadbalancers: {enabled: true}
```
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from stackwright.core.controllers import ControllerContext, interval_setting
from stackwright.core.model import Address, Recorded, Status
from stackwright.services.loadbalancer import process_for, state_dir
from stackwright.services.replicas import LABEL_REVISION, LABEL_SERVICE
from stackwright.services.service import podman_for
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


class ServiceController:
    name: ClassVar[str] = "services"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.interval = interval_setting(settings, 1.0)

    def tick(self, ctx: ControllerContext) -> None:
        services = {a: r for a, r in ctx.resources("Service").items()
                    if r.status is Status.READY and r.id}
        if not services:
            return
        labels = StackwrightLabels(ctx.project, ctx.environment).as_dict()
        podman = podman_for(ctx.driver_context(next(iter(services))))
        containers = podman.container_list(labels)
        for address, record in sorted(services.items()):
            reason = needs_repair(record, containers)
            if reason is not None and not ctx.stop.is_set():
                self._repair(ctx, address, reason)

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
