"""The ``Cache`` kind: a Redis instance in a podman container, persisted on a volume."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from stackwright.core.kinds import Kind, SpecModel
from stackwright.core.model import Declared
from stackwright.data import redis
from stackwright.data.instance import (
    HOST,
    Instance,
    InstanceDriver,
    check_alive,
    wait_failed,
)
from stackwright.data.spec import InstanceSpec, clashes, normalized
from stackwright.errors import SpecError
from stackwright.tools.podman import Podman

POLL = 0.2
_MAXMEMORY = re.compile(r"^\d+(b|kb|mb|gb|k|m|g)?$", re.IGNORECASE)
EvictionPolicy = Literal["noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
                         "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"]


class CacheSpec(InstanceSpec):
    maxmemory: str | None = Field(None, description="Memory for data: 64mb, 1gb (default: no "
                                                    "limit).")
    maxmemoryPolicy: EvictionPolicy = Field(
        "noeviction", description="What to evict at maxmemory (noeviction: refuse writes).")
    appendonly: bool = Field(True, description="Log every write to the volume (AOF), so data "
                                               "survives restarts.")

    @field_validator("maxmemory")
    @classmethod
    def _maxmemory(cls, value: str | None) -> str | None:
        if value is not None and not _MAXMEMORY.match(value):
            raise ValueError(f"maxmemory must look like 64mb or 1gb, got {value!r}")
        return value


class CacheKind(Kind):
    """A Redis cache with a generated password, persisted on a volume.

    ```yaml
    apiVersion: stackwright.dev/v1
    kind: Cache
    metadata: {name: cache}
    spec:
      port: 16379                      # on 127.0.0.1; default: a free port, kept
      maxmemory: 64mb
      maxmemoryPolicy: allkeys-lru
      network: "${{ Network.backend.name }}"   # reachable there as cache:6379
      resources: {memory: 128m}
    ```

    Redis runs as the ``redis`` user in a container restarted by podman itself, with its
    append-only file on a volume (``sw-<project>-<key>-<env>-<name>-data`` unless ``volume`` names
    one). The password (32 URL-safe characters) is generated once and given to Redis as the
    SHA-256 of an ACL rule, never in clear; a container removed or a resource destroyed and
    applied again comes back with the same data, password and port. Destroy keeps the data
    unless ``deleteData: true``. Outputs: ``host``, ``port``, ``password`` and ``url``
    (sensitive), ``container``, ``volume``; on a network ``internalHost``, ``internalPort``
    and ``internalUrl`` (sensitive).
    """

    name: ClassVar[str] = "Cache"
    spec_model = CacheSpec
    outputs = ("host", "port", "password", "url", "container", "volume", "internalHost",
               "internalPort", "internalUrl")
    sensitive_outputs = frozenset({"password", "url", "internalUrl"})
    drivers = {"local": lambda: PodmanCacheDriver()}

    def normalize(self, spec: SpecModel) -> dict[str, Any]:
        assert isinstance(spec, CacheSpec)
        return normalized(spec, super().normalize(spec))

    def predict_outputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        spec = CacheSpec.model_validate(dict(inputs))
        known: dict[str, Any] = {"host": HOST, "internalPort": redis.CONTAINER_PORT}
        return {**known, **({"port": spec.port} if spec.port is not None else {})}

    def validate_together(self, resources: Sequence[Declared]) -> list[SpecError]:
        return clashes(resources, "Cache")


class PodmanCacheDriver(InstanceDriver):
    engine: ClassVar[str] = "redis"
    container_port: ClassVar[int] = redis.CONTAINER_PORT

    def parse(self, inputs: Mapping[str, Any]) -> CacheSpec:
        return CacheSpec.model_validate(dict(inputs))

    def server(self, spec: InstanceSpec, password: str) -> tuple[str, list[str]]:
        assert isinstance(spec, CacheSpec)
        return redis.ENTRY_SCRIPT, redis.server_args(
            password, maxmemory=spec.maxmemory, policy=spec.maxmemoryPolicy,
            appendonly=spec.appendonly)

    def provision(self, podman: Podman, spec: InstanceSpec, inst: Instance,
                  deadline: float) -> None:
        """Until ``AUTH`` with the password and ``PING`` answer ``+OK`` and ``+PONG``."""
        while True:
            try:
                replies = redis.ping(HOST, inst.port, inst.password)
            except OSError as exc:
                replies = [f"-{type(exc).__name__}: {exc}"]
            if replies == ["+OK", "+PONG"]:
                return
            check_alive(podman, inst)
            if time.monotonic() > deadline:
                raise wait_failed(podman, inst.container,
                                  f"Redis on {HOST}:{inst.port} did not answer PING in time: "
                                  f"{' '.join(replies) or 'no reply'}")
            time.sleep(POLL)

    def outputs(self, spec: InstanceSpec, inst: Instance) -> dict[str, Any]:
        internal = spec.network is not None
        alias, pw = inst.address.name, inst.password
        return {
            "host": HOST, "port": inst.port, "password": pw,
            "url": redis.url(pw, HOST, inst.port), "container": inst.container,
            "volume": inst.volume, "internalHost": alias if internal else None,
            "internalPort": redis.CONTAINER_PORT,
            "internalUrl": redis.url(pw, alias, redis.CONTAINER_PORT) if internal else None,
        }


CACHE_KIND = CacheKind()
