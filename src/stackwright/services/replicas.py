"""Replicas: the podman containers of one service, their names, labels and ports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from stackwright.errors import PermanentError
from stackwright.ports import free_port
from stackwright.services.identity import Identity
from stackwright.services.secretrefs import Delivery
from stackwright.services.spec import ServiceSpec
from stackwright.tools import podman_facts as facts
from stackwright.tools._proc import PortInUseError
from stackwright.tools.podman import (
    ContainerSpec,
    NetworkAttachment,
    Podman,
    PortMapping,
    VolumeMount,
)

LABEL_SERVICE = "dev.stackwright.service"
LABEL_REVISION = "dev.stackwright.revision"
LABEL_INDEX = "dev.stackwright.replica"
_PORT_ATTEMPTS = 4
NO_SECRETS = Delivery()


@dataclass(frozen=True)
class Replica:
    """One container of a service as podman reports it."""

    name: str
    revision: str
    index: int
    running: bool
    ports: Mapping[int, int] = field(default_factory=dict)  # container port -> host port

    @property
    def server(self) -> str:
        """Its server name in HAProxy backends."""
        return f"{self.revision}-{self.index}"


def replica_name(ident: Identity, revision: str, index: int) -> str:
    return f"{ident.id}-{revision}-{index}"


def labels(ident: Identity, revision: str, index: int) -> dict[str, str]:
    return {**ident.labels(), LABEL_SERVICE: ident.id, LABEL_REVISION: revision,
            LABEL_INDEX: str(index)}


def container_spec(
    ident: Identity, spec: ServiceSpec, revision: str, index: int, host_ports: Mapping[int, int],
    delivery: Delivery = NO_SECRETS,
) -> ContainerSpec:
    return ContainerSpec(
        name=replica_name(ident, revision, index),
        image=spec.image,
        command=tuple(spec.command or ()),
        env={**spec.env, **delivery.env},
        ports=tuple(PortMapping(host_ports[p], p) for p in spec.ports),
        cpus=spec.resources.cpus,
        memory=spec.resources.memory,
        volumes=tuple(VolumeMount(src, dst) for src, dst in sorted(spec.volumes.items()))
        + delivery.mounts,
        networks=tuple(NetworkAttachment(n, (ident.name,)) for n in spec.networks),
        labels=labels(ident, revision, index),
        restart=spec.restart,
        init=True,  # so a server as PID 1 gets SIGTERM and stops promptly
    )



def start_replica(
    podman: Podman, ident: Identity, spec: ServiceSpec, revision: str, index: int,
    delivery: Delivery = NO_SECRETS,
) -> Replica:
    """Start one replica on free host ports (a port taken in between is retried)."""
    for attempt in range(_PORT_ATTEMPTS):
        ports = {p: free_port() for p in spec.ports}
        try:
            podman.container_run(container_spec(ident, spec, revision, index, ports, delivery))
        except PortInUseError:
            if attempt == _PORT_ATTEMPTS - 1:
                raise
            continue
        return Replica(replica_name(ident, revision, index), revision, index, True, ports)
    raise AssertionError("unreachable")


def list_replicas(podman: Podman, ident: Identity) -> list[Replica]:
    """Every container of the service, any revision, running or not, by index."""
    names = [c.name for c in podman.container_list({LABEL_SERVICE: ident.id})
             if ident.owns(c.labels)]
    if not names:
        return []
    done = podman.probe(["container", "inspect", *names])
    infos = facts.parse_container_inspect(done.stdout) if done.stdout.strip() else []
    return sorted((_replica(i) for i in infos), key=lambda r: (r.revision, r.index))


def _replica(info: facts.ContainerInfo) -> Replica:
    ports = {p.container_port: p.host_port for p in info.ports}
    index = int(info.labels.get(LABEL_INDEX, "0") or 0)
    return Replica(info.name, info.labels.get(LABEL_REVISION, ""), index, info.running, ports)


def logs_tail(podman: Podman, name: str, lines: int = 8) -> str:
    done = podman.probe(["logs", "--tail", str(lines), name])
    text = (done.stdout + done.stderr).strip()
    return text or "(no output)"


def remove(podman: Podman, name: str, *, stop_timeout: int = 5) -> None:
    """Stop (SIGTERM, then kill after ``stop_timeout``) and remove; gone already is fine."""
    done = podman.probe(["rm", "--force", "--ignore", "--time", str(stop_timeout), name])
    if done.returncode != 0:
        raise PermanentError(f"cannot remove container {name}: {done.stderr.strip()}")


def preflight(podman: Podman, spec: ServiceSpec) -> None:
    """Refuse, before anything starts, what podman would refuse half-way."""
    if not podman.image_exists(spec.image):
        raise PermanentError(f"image {spec.image} does not exist",
                             hint="build it first (an Image resource): there is no registry")
    missing = [n for n in spec.networks if not podman.network_exists(n)]
    if missing:
        raise PermanentError(f"network(s) {', '.join(missing)} do not exist",
                             hint="declare the Network and reference it, or fix the name")
