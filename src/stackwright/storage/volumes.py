"""The ``Volume`` kind: a named podman volume whose data outlives the containers using it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field

from stackwright.core.kinds import Driver, DriverContext, Kind, SpecModel
from stackwright.core.model import Address, Applied, Imported, Observed, Recorded
from stackwright.local import (
    claim,
    labels_for,
    mention_legacy_volume,
    object_name,
    podman_for,
    scope_of,
)
from stackwright.tools._proc import NotFoundError


class VolumeSpec(SpecModel):
    deletionPolicy: Literal["Retain", "Delete"] = Field(  # noqa: N815 (the spec's spelling)
        "Retain",
        description="Retain: destroy forgets the volume and keeps its data. Delete: destroy "
        "deletes the data.",
    )


class VolumeKind(Kind):
    """A named volume. Data survives container replacement, and by default survives destroy.

    ```yaml
    apiVersion: stackwright.dev/v1
    kind: Volume
    metadata: {name: pgdata}
    spec:
      deletionPolicy: Retain
    ```

    With ``deletionPolicy: Retain`` (the default) ``destroy`` removes the volume from the
    state and leaves it, with its data, on the machine (and says so). Outputs: ``name``,
    ``mountpoint``.
    """

    name: ClassVar[str] = "Volume"
    spec_model = VolumeSpec
    outputs = ("name", "mountpoint")
    drivers = {"local": lambda: PodmanVolumeDriver()}


class PodmanVolumeDriver(Driver):
    """Volumes named ``sw-<project>-<key>-<env>-<name>`` (:mod:`stackwright.local.names`),
    labelled with their resource and owner; a recorded name (an older one too) is kept, and
    only a volume carrying this project's owner is adopted."""

    def read(self, ctx: DriverContext, recorded: Recorded) -> Observed | None:
        if not _name(recorded):  # a create that failed or was cut short: nothing was made
            return None
        try:
            info = podman_for(ctx).volume_inspect(_name(recorded))
        except NotFoundError:
            return None
        return Observed(outputs={"name": info.name, "mountpoint": info.mountpoint})

    def create(self, ctx: DriverContext, inputs: Mapping[str, Any]) -> Applied:
        address = ctx.address or Address("Volume", "unnamed")
        name = object_name(ctx, address)
        podman = podman_for(ctx)
        try:  # a retained volume of an earlier life is adopted, data and all
            info = podman.volume_inspect(name)
            claim(scope_of(ctx), "volume", name, info.labels)
            ctx.log(f"adopting the existing volume {name} and its data")
        except NotFoundError:
            info = podman.volume_create(name, labels=labels_for(ctx, address))
            mention_legacy_volume(ctx, podman, scope_of(ctx).legacy_name(address.name),
                                  f"stackwright state rm {address}, then stackwright import "
                                  f"{address} <that name>")
        return Applied(id=info.name, outputs={"name": info.name, "mountpoint": info.mountpoint})

    def update(self, ctx: DriverContext, recorded: Recorded, inputs: Mapping[str, Any]
               ) -> Applied:
        return Applied(id=recorded.id or _name(recorded), outputs=dict(recorded.outputs))

    def delete(self, ctx: DriverContext, recorded: Recorded) -> None:
        spec = VolumeSpec.model_validate(dict(recorded.inputs))
        name = _name(recorded)
        if not name:
            return
        if spec.deletionPolicy == "Retain":
            ctx.log(f"keeping volume {name} and its data (deletionPolicy: Retain)")
            return
        try:
            podman_for(ctx).volume_remove(name)
        except NotFoundError:
            return

    def import_(self, ctx: DriverContext, object_id: str) -> Imported:
        info = podman_for(ctx).volume_inspect(object_id)
        return Imported(id=info.name, inputs={},
                        outputs={"name": info.name, "mountpoint": info.mountpoint})


def _name(recorded: Recorded) -> str:
    return str(recorded.outputs.get("name") or recorded.id or "")


VOLUME_KIND = VolumeKind()
