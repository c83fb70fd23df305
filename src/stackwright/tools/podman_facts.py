"""Facts read from podman: pure parsers of its JSON output, and of its error messages.

Each parser takes the text a ``podman … --format json`` / ``podman … inspect`` command printed
and returns frozen values; nothing here runs a process.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stackwright.tools._proc import NameInUseError, NotFoundError, PortInUseError, ToolError

_ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True)
class PublishedPort:
    host_ip: str
    host_port: int
    container_port: int
    protocol: str = "tcp"


@dataclass(frozen=True)
class ContainerInfo:
    """The observed state of one container (``podman container inspect``)."""

    id: str
    name: str
    image: str
    image_id: str
    status: str  # created | running | exited | stopped | paused | …
    running: bool
    exit_code: int
    health: str | None  # starting | healthy | unhealthy, None without a health check
    started_at: datetime | None
    finished_at: datetime | None
    ips: Mapping[str, str] = field(default_factory=dict)  # network name -> IPv4 address
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    ports: tuple[PublishedPort, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    restart_policy: str = ""
    restart_count: int = 0
    error: str = ""


@dataclass(frozen=True)
class ContainerSummary:
    """One row of ``podman ps --format json``."""

    id: str
    name: str
    image: str
    state: str
    labels: Mapping[str, str] = field(default_factory=dict)
    networks: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImageInfo:
    id: str
    tags: tuple[str, ...]
    labels: Mapping[str, str]
    created: datetime | None
    size: int
    cmd: tuple[str, ...] = ()


@dataclass(frozen=True)
class Subnet:
    subnet: str
    gateway: str


@dataclass(frozen=True)
class NetworkInfo:
    name: str
    id: str
    driver: str
    subnets: tuple[Subnet, ...]
    labels: Mapping[str, str]
    internal: bool
    dns_enabled: bool


@dataclass(frozen=True)
class VolumeInfo:
    name: str
    driver: str
    mountpoint: str
    labels: Mapping[str, str]


def _load_list(text: str) -> list[dict[str, Any]]:
    data = json.loads(text or "[]")
    if data is None:
        return []
    return list(data) if isinstance(data, list) else [data]


def parse_time(value: str | None) -> datetime | None:
    """Podman's RFC 3339 timestamps (nanoseconds, ``Z``); the zero time is ``None``."""
    if not value or value.startswith("0001-01-01"):
        return None
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", value)
    if match is None:
        return None
    frac = (match.group(2) or ".0")[:7]
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    return datetime.fromisoformat(f"{match.group(1)}{frac}{zone}")


def _labels(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (value or {}).items()}


def _ports(settings: Mapping[str, Any]) -> tuple[PublishedPort, ...]:
    out = []
    for key, binds in (settings.get("Ports") or {}).items():
        port, _, proto = key.partition("/")
        for bind in binds or []:
            out.append(PublishedPort(bind.get("HostIp") or "0.0.0.0", int(bind["HostPort"]),
                                     int(port), proto or "tcp"))
    return tuple(sorted(out, key=lambda p: (p.container_port, p.host_port)))


def _container(item: Mapping[str, Any]) -> ContainerInfo:
    state = item.get("State") or {}
    health = state.get("Health") or state.get("Healthcheck") or {}
    nets = (item.get("NetworkSettings") or {}).get("Networks") or {}
    restart = (item.get("HostConfig") or {}).get("RestartPolicy") or {}
    return ContainerInfo(
        id=item["Id"],
        name=item.get("Name", "").lstrip("/"),
        image=item.get("ImageName") or (item.get("Config") or {}).get("Image", ""),
        image_id=item.get("Image", ""),
        status=state.get("Status", ""),
        running=bool(state.get("Running")),
        exit_code=int(state.get("ExitCode") or 0),
        health=health.get("Status") or None,
        started_at=parse_time(state.get("StartedAt")),
        finished_at=parse_time(state.get("FinishedAt")),
        ips={n: v.get("IPAddress", "") for n, v in nets.items()},
        aliases={n: tuple(v.get("Aliases") or ()) for n, v in nets.items()},
        ports=_ports(item.get("NetworkSettings") or {}),
        labels=_labels((item.get("Config") or {}).get("Labels")),
        restart_policy=restart.get("Name", ""),
        restart_count=int(item.get("RestartCount") or 0),
        error=state.get("Error", ""),
    )


def parse_container_inspect(text: str) -> list[ContainerInfo]:
    return [_container(item) for item in _load_list(text)]


def parse_container_list(text: str) -> list[ContainerSummary]:
    return [
        ContainerSummary(
            id=item["Id"],
            name=(item.get("Names") or [""])[0],
            image=item.get("Image", ""),
            state=item.get("State", ""),
            labels=_labels(item.get("Labels")),
            networks=tuple(item.get("Networks") or ()),
        )
        for item in _load_list(text)
    ]


def parse_image_inspect(text: str) -> list[ImageInfo]:
    return [
        ImageInfo(
            id=item["Id"],
            tags=tuple(item.get("RepoTags") or ()),
            labels=_labels(item.get("Labels") or (item.get("Config") or {}).get("Labels")),
            created=parse_time(item.get("Created")),
            size=int(item.get("Size") or 0),
            cmd=tuple((item.get("Config") or {}).get("Cmd") or ()),
        )
        for item in _load_list(text)
    ]


def parse_network_inspect(text: str) -> list[NetworkInfo]:
    """Both ``network inspect`` and ``network ls --format json`` print this shape."""
    return [
        NetworkInfo(
            name=item["name"],
            id=item.get("id", ""),
            driver=item.get("driver", ""),
            subnets=tuple(Subnet(s.get("subnet", ""), s.get("gateway", ""))
                          for s in item.get("subnets") or ()),
            labels=_labels(item.get("labels")),
            internal=bool(item.get("internal")),
            dns_enabled=bool(item.get("dns_enabled")),
        )
        for item in _load_list(text)
    ]


def parse_volume_inspect(text: str) -> list[VolumeInfo]:
    """Both ``volume inspect`` and ``volume ls --format json`` print this shape."""
    return [
        VolumeInfo(item["Name"], item.get("Driver", ""), item.get("Mountpoint", ""),
                   _labels(item.get("Labels")))
        for item in _load_list(text)
    ]


_PORT_IN_USE = re.compile(r"listen \w+ ([\d.:\[\]a-f]*?):(\d+): bind: address already in use")
_NAME_IN_USE = re.compile(r'name "[^"]*" is already in use')
_NOT_FOUND = (
    (re.compile(r"network not found|unable to find network"), "network",
     "create the network first"),
    (re.compile(r"image not known|no such image|image .* not found|initializing source"),
     "image", "build or import the image first: there is no registry to pull from"),
    (re.compile(r"no such container|no container with"), "container", None),
    (re.compile(r"no such volume|no volume with"), "volume", None),
    (re.compile(r"no such file or directory"), "file", "check the path"),
)


def classify_failure(argv: Sequence[str], stderr: str, what: str) -> ToolError:
    """The most specific error for a failed podman command, with podman's words and a hint."""
    words = _error_lines(stderr)
    message = f"{what} failed: {words}"
    port = _PORT_IN_USE.search(stderr)
    if port is not None:
        number = int(port.group(2))
        return PortInUseError(
            f"{what} failed: port {port.group(1)}:{number} is already in use", port=number,
            argv=argv, stderr=stderr,
            hint=f"choose another host port than {number}, or stop what listens on it",
        )
    if _NAME_IN_USE.search(stderr):
        return NameInUseError(message, argv=argv, stderr=stderr,
                              hint="remove that container, or let apply adopt it")
    for pattern, kind, hint in _NOT_FOUND:
        if pattern.search(stderr.lower()):
            return NotFoundError(message, argv=argv, stderr=stderr,
                                 hint=hint or f"the {kind} does not exist")
    return ToolError(message, argv=argv, stderr=stderr, hint=f"command: {' '.join(argv[:6])}")


def _error_lines(stderr: str) -> str:
    errors = [ln.removeprefix("Error: ") for ln in stderr.splitlines() if ln.startswith("Error:")]
    if errors:
        return "; ".join(errors)
    kept = [ln for ln in stderr.strip().splitlines() if "systemd" not in ln and ln.strip()]
    return "; ".join(kept[-3:]) or "no output"
