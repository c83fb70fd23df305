"""What ``Database`` and ``Cache`` specs share: image, port, volume, network, resources, state;
and the checks across instances of one kind (one host port, one volume each)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import Field, field_validator

from stackwright.core.kinds import SpecModel
from stackwright.core.model import Declared
from stackwright.errors import SpecError

_MEMORY = re.compile(r"^\d+[bkmg]?$", re.IGNORECASE)
_VOLUME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


class Resources(SpecModel):
    cpus: float | None = Field(None, gt=0, description="CPU limit, in cores.")
    memory: str | None = Field(None, description="Memory limit: 256m, 1g.")

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is not None and not _MEMORY.match(value):
            raise ValueError(f"memory must look like 256m or 1g, got {value!r}")
        return value


class InstanceSpec(SpecModel):
    """The fields every data instance has."""

    image: str | None = Field(
        None, description="An image with the server binaries (default: the data image, "
        "Debian bookworm with PostgreSQL 15 and Redis, built here once).")
    port: int | None = Field(
        None, ge=1, le=65535, description="Host port on 127.0.0.1 (default: a free port, "
        "picked once and kept).")
    volume: str | None = Field(
        None, description="A podman volume for the data, e.g. ${{ Volume.pgdata.name }} "
        "(default: sw-<project>-<key>-<env>-<name>-data, made and kept by this resource).")
    deleteData: bool = Field(
        False, description="On destroy, also delete the default volume and its data.")
    network: str | None = Field(
        None, description="A podman network to join, with the resource name as DNS alias.")
    resources: Resources = Field(default_factory=Resources)
    running: bool = Field(True, description="false stops the container and keeps it.")
    startTimeout: float = Field(120, gt=0, description="Seconds to wait until it is healthy.")

    @field_validator("volume")
    @classmethod
    def _volume(cls, value: str | None) -> str | None:
        if value is not None and not _VOLUME.match(value):
            raise ValueError(f"not a podman volume name: {value!r}")
        return value


def normalized(spec: InstanceSpec, fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with ``running`` always recorded, so a container stopped behind our back
    diffs against the record even when the spec leaves ``running`` at its default."""
    return {**fields, "running": spec.running}


def clashes(resources: Sequence[Declared], kind: str) -> list[SpecError]:
    """Two instances of ``kind`` on one host port, or on one volume."""
    errors: list[SpecError] = []
    for field, what in (("port", "host port"), ("volume", "volume")):
        seen: dict[Any, Declared] = {}
        for decl in resources:
            value = decl.spec.get(field)
            if value is None or "${{" in str(value):
                continue
            if value in seen:
                errors.append(SpecError(
                    f"{what} {value} is also used by {seen[value].address}",
                    location=decl.location, field=f"spec.{field}",
                    hint=f"give each {kind} its own {what}"))
            else:
                seen[value] = decl
    return errors
