"""A drill's service check: a scratch copy of a ``Service`` (its image and command) started on
the restored volumes, its health check run until it passes or the time is up, removed after.

The copy never touches the live instances: a volume of the service that the drill restored is
replaced by its scratch copy, any other volume is left out, and the service's own ``env`` is
not copied (it names the live database); the drill's ``checks.service.env`` is given instead,
with ``$SCRATCH_<NAME>_URL`` / ``$SCRATCH_<NAME>_DIR`` replaced. The container runs on its own
slirp4netns network that reaches the host's loopback (where the scratch PostgreSQL and Redis
listen) at ``10.0.2.2``, so the URLs it gets say that host.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from string import Template
from typing import TYPE_CHECKING

from stackwright.core.model import Address
from stackwright.durations import seconds
from stackwright.errors import StackwrightError
from stackwright.local import labels_for, object_name, podman_for
from stackwright.ports import free_port
from stackwright.recover.kinds import ServiceCheck
from stackwright.recover.platform import Platform
from stackwright.recover.restore import Restored
from stackwright.tools.podman import ContainerSpec, NetworkAttachment, PortMapping, VolumeMount

if TYPE_CHECKING:
    from stackwright.services.spec import ServiceSpec

HOST_LOOPBACK = "10.0.2.2"  # the host's 127.0.0.1, seen from a slirp4netns container
NETWORK = "slirp4netns:allow_host_loopback=true"


class ServiceCheckFailed(StackwrightError):
    """The scratch copy of the service did not become healthy."""


def _scratch_env(restored: Sequence[Restored]) -> dict[str, str]:
    from stackwright.recover.drills import scratch_env

    return {k: v.replace("@127.0.0.1:", f"@{HOST_LOOPBACK}:")
            for k, v in scratch_env(list(restored)).items()}


def _mounts(platform: Platform, volumes: dict[str, str], restored: Sequence[Restored]
            ) -> tuple[VolumeMount, ...]:
    """The service's mounts of volumes the drill restored, onto their scratch copies."""
    scratch: dict[str, str] = {}
    for item in restored:
        kind, _, name = item.source.partition("/")
        if kind == "Volume" and "volume" in item.where:
            live = platform.recorded("Volume", name).outputs.get("name")
            scratch[str(live)] = str(item.where["volume"])
    return tuple(VolumeMount(scratch[src], dst) for src, dst in sorted(volumes.items())
                 if src in scratch)


def check_service(platform: Platform, check: ServiceCheck, restored: Sequence[Restored]
                  ) -> int:
    """Start the scratch copy, wait for its health check, remove it; 1 (one check passed)."""
    from stackwright.services.spec import ServiceSpec

    record = platform.recorded("Service", check.name)
    spec = ServiceSpec.model_validate(dict(record.inputs))
    mounts = _mounts(platform, spec.volumes, restored)
    if spec.volumes and not mounts:
        raise ServiceCheckFailed(f"checks.service: Service/{check.name} mounts none of the "
                                 "volumes the drill restored",
                                 hint="back up the service's volume in the drill's policy")
    address = Address("Service", f"{check.name}-drill-{secrets.token_hex(3)}")
    ctx = platform.ctx(address)
    podman = podman_for(ctx)
    port = spec.health_port()
    host_port = free_port() if port is not None else None
    env = {k: Template(v).safe_substitute(_scratch_env(restored)) for k, v in check.env.items()}
    container = ContainerSpec(
        name=object_name(ctx, address), image=spec.image, command=tuple(spec.command or ()),
        env=env, volumes=mounts, networks=(NetworkAttachment(NETWORK),),
        ports=(PortMapping(host_port, port),) if host_port and port else (),
        labels=labels_for(ctx, address), memory=spec.resources.memory, restart="no")
    platform.log(f"checking a scratch copy of Service/{check.name} ({container.name})")
    podman.container_run(container)
    try:
        _wait_healthy(platform, spec, container.name, host_port, check.timeout)
    finally:
        podman.container_remove(container.name, force=True)
    return 1


def _wait_healthy(platform: Platform, spec: ServiceSpec, name: str, host_port: int | None,
                  timeout: float) -> None:
    from stackwright.services import health

    podman = podman_for(platform.ctx())
    hc = spec.healthCheck
    pause = seconds(hc.interval) if hc else 0.5
    deadline = time.monotonic() + timeout
    while True:
        running = podman.container_inspect(name).running
        result = health.check(podman, hc, name, host_port, running)
        if result.ok:
            return
        if not running or time.monotonic() >= deadline:
            logs = podman.container_logs(name, tail=5).strip()
            raise ServiceCheckFailed(
                f"checks.service: the scratch copy of {spec.image} was not healthy within "
                f"{timeout:g}s: {result.detail}" + (f"; its log: {logs}" if logs else ""),
                hint="see the service's healthCheck and the drill's checks.service.env")
        time.sleep(pause)
