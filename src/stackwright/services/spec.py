"""The specs of ``Service`` and ``LoadBalancer``, and the revision a service spec yields."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from stackwright.core.kinds import SpecModel
from stackwright.delivery.spec import DeploySpec
from stackwright.durations import seconds as seconds  # re-exported for the services modules

_MEMORY = re.compile(r"^\d+[bkmg]?$", re.IGNORECASE)
# Fields whose change needs new containers; ``replicas``, ``restart``, ``rollout`` and
# ``deploy`` do not.
REVISION_FIELDS = ("image", "command", "env", "ports", "resources", "volumes", "networks",
                   "healthCheck")


def _duration(value: str) -> str:
    seconds(value)
    return value


class Resources(SpecModel):
    cpus: float | None = Field(None, gt=0, description="CPU limit, in cores.")
    memory: str | None = Field(None, description="Memory limit: 64m, 1g.")

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is not None and not _MEMORY.match(value):
            raise ValueError(f"memory must look like 64m or 1g, got {value!r}")
        return value


class HealthCheckSpec(SpecModel):
    """One of ``http`` (a path), ``tcp`` or ``command``; checked on the replica's port."""

    http: str | None = Field(None, description="Path for an HTTP GET; 2xx/3xx is healthy.")
    tcp: bool = Field(False, description="Healthy when the port accepts a connection.")
    command: str | None = Field(None, description="Run in the container; exit 0 is healthy.")
    port: int | None = Field(None, ge=1, le=65535, description="Container port (http/tcp).")
    interval: str = Field("1s", description="Time between checks while waiting.")
    timeout: str = Field("2s", description="Time one check may take.")
    retries: int = Field(3, ge=1, description="Failures in a row that make a replica unhealthy.")
    startPeriod: str = Field("0s", description="Failures in this time after start don't count.")

    @field_validator("interval", "timeout", "startPeriod")
    @classmethod
    def _durations(cls, value: str) -> str:
        return _duration(value)

    @model_validator(mode="after")
    def _one_kind(self) -> HealthCheckSpec:
        kinds = [k for k, v in (("http", self.http), ("tcp", self.tcp),
                                ("command", self.command)) if v]
        if len(kinds) != 1:
            raise ValueError("give exactly one of http, tcp or command")
        if self.http is not None and not self.http.startswith("/"):
            raise ValueError(f"http must be a path starting with '/', got {self.http!r}")
        return self

    @property
    def kind(self) -> Literal["http", "tcp", "command"]:
        return "http" if self.http else "tcp" if self.tcp else "command"


class Rollout(SpecModel):
    maxSurge: int = Field(1, ge=0, description="Replicas started above `replicas` at a time.")
    maxUnavailable: int = Field(0, ge=0, description="Replicas that may be missing at a time.")
    healthTimeout: str = Field("30s", description="How long a new replica has to be healthy.")
    drainTimeout: str = Field("10s", description="How long to wait for sessions to end.")

    @field_validator("healthTimeout", "drainTimeout")
    @classmethod
    def _durations(cls, value: str) -> str:
        return _duration(value)

    @model_validator(mode="after")
    def _progress(self) -> Rollout:
        if self.maxSurge == 0 and self.maxUnavailable == 0:
            raise ValueError("maxSurge and maxUnavailable cannot both be 0")
        return self


_REF = re.compile(r"^(?P<mount>[A-Za-z0-9_.-]+)/(?P<path>[A-Za-z0-9_./-]+?)(?:@(?P<version>\d+))?$")


class SecretRef(SpecModel):
    """One key of a secret in the secrets store, delivered as an env var or a file."""

    ref: str | None = Field(None, description="mount/path[@version], e.g. "
                            "${{ Secret.db.ref }} or secret/app/db (the latest version at "
                            "deploy time).")
    value: str | None = Field(None, description="Instead of ref: a value, typically a "
                              "sensitive output such as ${{ Database.db.internalUrl }}.")
    key: str = Field("value", min_length=1, description="Key within the secret.")
    env: str | None = Field(None, description="Deliver as this environment variable "
                                              "(visible to `podman inspect`).")
    file: str | None = Field(None, description="Deliver as a read-only file at this absolute "
                                               "path, from a tmpfs (never on disk).")
    fileMode: str = Field("0400", pattern=r"^0?[0-7]{3}$",  # noqa: N815
                          description="The file's permission bits.")

    @field_validator("ref")
    @classmethod
    def _ref(cls, value: str | None) -> str | None:
        if value is not None and _REF.match(value) is None:
            raise ValueError(f"{value!r} is not mount/path[@version] (e.g. secret/app/db@2)")
        return value

    @model_validator(mode="after")
    def _one_target(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env or file")
        if (self.ref is None) == (self.value is None):
            raise ValueError("give exactly one of ref or value")
        if self.file is not None and not self.file.startswith("/"):
            raise ValueError(f"file must be an absolute path in the container: {self.file!r}")
        return self

    def parts(self) -> tuple[str, str, int | None]:
        """(mount, path, version or None for the latest)."""
        match = _REF.match(self.ref or "")
        assert match is not None, "parts() of a value, not a ref"
        version = match.group("version")
        return match.group("mount"), match.group("path"), int(version) if version else None


class ServiceSpec(SpecModel):
    image: str = Field(min_length=1, description="Image ref, e.g. ${{ Image.app.image }}.")
    command: list[str] | None = Field(None, description="Overrides the image's command.")
    env: dict[str, str] = Field(default_factory=dict, description="Environment variables.")
    ports: list[int] = Field(default_factory=list,
                             description="Container ports; each replica publishes each one "
                                         "on a free 127.0.0.1 port.")
    replicas: int = Field(1, ge=0, le=100, description="How many containers run.")
    resources: Resources = Field(default_factory=Resources)
    volumes: dict[str, str] = Field(default_factory=dict,
                                    description="Named volume (or absolute host path) -> path.")
    networks: list[str] = Field(default_factory=list,
                                description="Networks joined, with the service name as alias.")
    healthCheck: HealthCheckSpec | None = None
    restart: Literal["no", "always", "on-failure", "unless-stopped"] = "on-failure"
    rollout: Rollout = Field(default_factory=Rollout)
    deploy: DeploySpec = Field(default_factory=DeploySpec,
                               description="Strategy for a new revision: rolling (default), "
                                           "canary or blueGreen (docs/delivery.md).")
    secrets: list[SecretRef] = Field(default_factory=list,
                                     description="Keys of secrets given to every replica.")

    @field_validator("ports")
    @classmethod
    def _ports(cls, value: list[int]) -> list[int]:
        bad = [p for p in value if not 1 <= p <= 65535]
        if bad or len(set(value)) != len(value):
            raise ValueError(f"ports must be distinct numbers 1-65535, got {value}")
        return value

    @model_validator(mode="after")
    def _health_port(self) -> ServiceSpec:
        hc = self.healthCheck
        if hc is None or hc.kind == "command":
            return self
        port = hc.port if hc.port is not None else (self.ports[0] if self.ports else None)
        if port is None or port not in self.ports:
            raise ValueError(f"healthCheck.port {port} must be one of ports {self.ports}")
        return self

    def health_port(self) -> int | None:
        hc = self.healthCheck
        if hc is None or hc.kind == "command":
            return None
        return hc.port if hc.port is not None else self.ports[0]


def revision_of(spec: ServiceSpec) -> str:
    """A short hash of the fields that need new containers when they change."""
    full = spec.model_dump(mode="json")
    picked = {k: full[k] for k in REVISION_FIELDS}
    if spec.secrets:  # only when used, so that revisions made before secrets stay the same
        picked["secrets"] = full["secrets"]
    text = json.dumps(picked, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def config_hash(spec: ServiceSpec) -> str:
    text = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class HttpRoute(SpecModel):
    host: str | None = Field(None, description="Host header to match (any when unset).")
    pathPrefix: str | None = Field(None, description="Path prefix to match.")
    service: str = Field(min_length=1, description="The service's id: ${{ Service.web.id }}.")
    port: int = Field(ge=1, le=65535, description="The service's container port.")


class HttpListener(SpecModel):
    port: int = Field(ge=1, le=65535, description="Port HAProxy listens on.")
    routes: list[HttpRoute] = Field(min_length=1)


class TcpListener(SpecModel):
    port: int = Field(ge=1, le=65535, description="Port HAProxy listens on.")
    service: str = Field(min_length=1, description="The service's id: ${{ Service.db.id }}.")
    servicePort: int = Field(ge=1, le=65535, description="The service's container port.")


class LoadBalancerSpec(SpecModel):
    address: str = Field("127.0.0.1", description="Address the frontends bind to.")
    http: HttpListener | None = None
    tcp: list[TcpListener] = Field(default_factory=list)
    metricsPort: int | None = Field(None, ge=1, le=65535,
                                    description="Port of the Prometheus exporter (/metrics).")
    checkInterval: str = Field("1s", description="HAProxy's health-check interval.")

    @field_validator("checkInterval")
    @classmethod
    def _durations(cls, value: str) -> str:
        return _duration(value)

    @model_validator(mode="after")
    def _ports_distinct(self) -> LoadBalancerSpec:
        ports = self.listen_ports()
        dupes = sorted({p for p in ports if ports.count(p) > 1})
        if dupes:
            raise ValueError(f"port(s) {dupes} used twice in this load balancer")
        if self.http is None and not self.tcp:
            raise ValueError("give an http listener, tcp listeners, or both")
        return self

    def listen_ports(self) -> list[int]:
        ports = [self.http.port] if self.http else []
        ports += [t.port for t in self.tcp]
        return ports + ([self.metricsPort] if self.metricsPort else [])


def dump(spec: SpecModel) -> dict[str, Any]:
    return spec.model_dump(mode="json")
