"""The ``Network`` kind: a podman network with its own subnet."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import Field, field_validator

from stackwright.core.kinds import Driver, DriverContext, Kind, SpecModel
from stackwright.core.model import Address, Applied, Declared, Imported, Observed, Recorded
from stackwright.errors import SpecError
from stackwright.local import claim, labels_for, object_name, podman_for, scope_of
from stackwright.tools._proc import NotFoundError, ToolError
from stackwright.tools.podman_facts import NetworkInfo


class NetworkSpec(SpecModel):
    subnet: str = Field(description="IPv4 or IPv6 CIDR, e.g. 10.89.10.0/24.")
    internal: bool = Field(False, description="No route out of the network.")

    @field_validator("subnet")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_network(value, strict=True))
        except ValueError as exc:
            raise ValueError(f"not a CIDR subnet: {exc}") from exc


class NetworkKind(Kind):
    """A container network with its own subnet; containers on it find each other by name.

    ```yaml
    apiVersion: stackwright.dev/v1
    kind: Network
    metadata: {name: backend}
    spec:
      subnet: 10.89.10.0/24
    ```

    Subnets of the networks in a spec must not overlap. Changing ``subnet`` or ``internal``
    replaces the network. Outputs: ``name`` (the podman network), ``subnet``, ``gateway``.
    """

    name: ClassVar[str] = "Network"
    spec_model = NetworkSpec
    outputs = ("name", "subnet", "gateway")
    immutable = frozenset({"subnet", "internal"})
    drivers = {"local": lambda: PodmanNetworkDriver()}

    def validate_together(self, resources: Sequence[Declared]) -> list[SpecError]:
        errors: list[SpecError] = []
        seen: list[tuple[Declared, ipaddress.IPv4Network | ipaddress.IPv6Network]] = []
        for decl in resources:
            try:
                net = ipaddress.ip_network(str(decl.spec.get("subnet", "")), strict=True)
            except ValueError:
                continue  # the schema phase reports it
            for other, other_net in seen:
                if net.version == other_net.version and net.overlaps(other_net):
                    errors.append(SpecError(
                        f"subnet {net} overlaps {other_net} of {other.address}",
                        location=decl.location, field="spec.subnet",
                        hint="give each network its own address range",
                    ))
            seen.append((decl, net))
        return errors


class PodmanNetworkDriver(Driver):
    """Networks named ``sw-<project>-<key>-<env>-<name>`` (:mod:`stackwright.local.names`),
    labelled with their resource and owner; a recorded name (an older one too) is kept."""

    def read(self, ctx: DriverContext, recorded: Recorded) -> Observed | None:
        name = str(recorded.outputs.get("name") or recorded.id or "")
        if not name:  # a create that failed or was cut short: nothing was made
            return None
        try:
            info = podman_for(ctx).network_inspect(name)
        except NotFoundError:
            return None
        return _observed(info)

    def create(self, ctx: DriverContext, inputs: Mapping[str, Any]) -> Applied:
        spec = NetworkSpec.model_validate(dict(inputs))
        address = ctx.address or Address("Network", "unnamed")
        name = object_name(ctx, address)
        podman = podman_for(ctx)
        try:
            info = podman.network_create(name, subnet=spec.subnet, internal=spec.internal,
                                         labels=labels_for(ctx, address))
        except ToolError:
            if not podman.network_exists(name):
                raise
            info = podman.network_inspect(name)  # ours from a lost record, or refused
            claim(scope_of(ctx), "network", name, info.labels)
            ctx.log(f"adopting the existing network {name} (it carries this project's owner)")
        return Applied(id=info.name, outputs=_observed(info).outputs)

    def update(self, ctx: DriverContext, recorded: Recorded, inputs: Mapping[str, Any]
               ) -> Applied:
        # Every field is immutable: the planner replaces instead of updating.
        return Applied(id=recorded.id or "", outputs=dict(recorded.outputs))

    def delete(self, ctx: DriverContext, recorded: Recorded) -> None:
        name = str(recorded.outputs.get("name") or recorded.id or "")
        if not name:
            return
        try:
            podman_for(ctx).network_remove(name)
        except NotFoundError:
            return

    def import_(self, ctx: DriverContext, object_id: str) -> Imported:
        info = podman_for(ctx).network_inspect(object_id)
        observed = _observed(info)
        return Imported(id=info.name, inputs=dict(observed.inputs), outputs=observed.outputs)


def _observed(info: NetworkInfo) -> Observed:
    subnet = info.subnets[0] if info.subnets else None
    inputs: dict[str, Any] = {"internal": info.internal}
    if subnet is not None:
        inputs["subnet"] = subnet.subnet
    outputs = {"name": info.name, "subnet": subnet.subnet if subnet else None,
               "gateway": subnet.gateway if subnet else None}
    return Observed(inputs=inputs, outputs=outputs)


NETWORK_KIND = NetworkKind()
