"""The route table: how Services and LoadBalancers find each other, through files.

Under ``<project>/.stackwright/run/<env>/routes/``:

- ``svc-<service id>.json`` — written by a Service: its revision, its health check, and the
  replicas that belong in HAProxy (server name, container, container port -> host port);
- ``lb-<name>.json`` — written by a LoadBalancer: its stats socket and which backend serves
  which (service id, container port);
- ``.lock`` — an ``flock`` held for each short read-change-write section, so a rollout's
  runtime change and the service file it writes, or an LB's (re)start and the files it read,
  are never interleaved.

Files are replaced atomically (temp file + rename); a reader never sees half a file.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ServerEntry:
    name: str  # the HAProxy server name: <revision>-<index>
    container: str
    ports: Mapping[int, int] = field(default_factory=dict)  # container port -> host port
    weight: int = 100  # below 100 during a canary or a blue/green switch, so a reload keeps it


@dataclass(frozen=True)
class HealthEntry:
    kind: str  # http | tcp | command | none
    path: str | None = None
    port: int | None = None


@dataclass(frozen=True)
class ServiceEntry:
    service: str
    revision: str
    health: HealthEntry
    servers: tuple[ServerEntry, ...] = ()


@dataclass(frozen=True)
class BackendEntry:
    backend: str
    service: str
    port: int


@dataclass(frozen=True)
class LbEntry:
    name: str
    stats_socket: str
    backends: tuple[BackendEntry, ...] = ()

    def backends_for(self, service: str) -> list[BackendEntry]:
        return [b for b in self.backends if b.service == service]


def run_dir(project_dir: Path, environment: str) -> Path:
    return Path(project_dir) / ".stackwright" / "run" / environment


class RouteTable:
    """The files under ``routes/`` of one project environment."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)

    @classmethod
    def at(cls, project_dir: Path, environment: str) -> RouteTable:
        return cls(run_dir(project_dir, environment) / "routes")

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def service(self, service: str) -> ServiceEntry | None:
        data = self._read(self.dir / f"svc-{service}.json")
        return None if data is None else service_from_json(data)

    def write_service(self, entry: ServiceEntry) -> None:
        self._write(self.dir / f"svc-{entry.service}.json", service_to_json(entry))

    def remove_service(self, service: str) -> None:
        (self.dir / f"svc-{service}.json").unlink(missing_ok=True)

    def lbs(self) -> list[LbEntry]:
        if not self.dir.is_dir():
            return []
        found = (self._read(p) for p in sorted(self.dir.glob("lb-*.json")))
        return [lb_from_json(d) for d in found if d is not None]

    def write_lb(self, entry: LbEntry) -> None:
        self._write(self.dir / f"lb-{entry.name}.json", lb_to_json(entry))

    def remove_lb(self, name: str) -> None:
        (self.dir / f"lb-{name}.json").unlink(missing_ok=True)

    def _read(self, path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # a file another process left broken: treated as absent
        return data if isinstance(data, dict) else None

    def _write(self, path: Path, data: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)


def service_to_json(entry: ServiceEntry) -> dict[str, Any]:
    return {
        "service": entry.service, "revision": entry.revision,
        "health": {"kind": entry.health.kind, "path": entry.health.path,
                   "port": entry.health.port},
        "servers": [{"name": s.name, "container": s.container, "weight": s.weight,
                     "ports": {str(k): v for k, v in s.ports.items()}} for s in entry.servers],
    }


def service_from_json(data: Mapping[str, Any]) -> ServiceEntry:
    health = data.get("health") or {}
    return ServiceEntry(
        service=str(data["service"]), revision=str(data.get("revision", "")),
        health=HealthEntry(str(health.get("kind", "none")), health.get("path"),
                           health.get("port")),
        servers=tuple(ServerEntry(str(s["name"]), str(s["container"]),
                                  {int(k): int(v) for k, v in (s.get("ports") or {}).items()},
                                  int(s.get("weight", 100)))
                      for s in data.get("servers") or ()),
    )


def lb_to_json(entry: LbEntry) -> dict[str, Any]:
    return {"name": entry.name, "stats_socket": entry.stats_socket,
            "backends": [{"backend": b.backend, "service": b.service, "port": b.port}
                         for b in entry.backends]}


def lb_from_json(data: Mapping[str, Any]) -> LbEntry:
    return LbEntry(str(data["name"]), str(data["stats_socket"]), tuple(
        BackendEntry(str(b["backend"]), str(b["service"]), int(b["port"]))
        for b in data.get("backends") or ()))
