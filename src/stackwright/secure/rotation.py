"""The daemon's ``secrets`` controller: rotates ``Secret`` resources whose time has come,
then rolls the services that use them.

A rotation is a repair of the Secret (its driver writes a new version when ``rotateEvery``
has passed). Each Service whose recorded ``secrets`` reference an earlier version of that
secret is then repaired with the new reference, which is a new revision: a rolling update,
without downtime, to replicas that read the new value. The next ``plan`` is empty, because
the spec's ``${{ Secret.x.ref }}`` now resolves to the reference the service has.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from stackwright.core.controllers import ControllerContext, interval_setting
from stackwright.core.model import Address, Recorded, Status
from stackwright.secure.secret import SecretSpec


def with_new_ref(inputs: Mapping[str, Any], old_prefix: str, new_ref: str
                 ) -> dict[str, Any] | None:
    """The service inputs with references to ``old_prefix@N`` replaced by ``new_ref``, or
    None when nothing changes (pure)."""
    refs = list(inputs.get("secrets") or [])
    changed = False
    out = []
    for item in refs:
        ref = str(item.get("ref") or "")
        if ref.startswith(old_prefix + "@") and ref != new_ref:
            item = {**item, "ref": new_ref}
            changed = True
        out.append(item)
    return {**inputs, "secrets": out} if changed else None


class SecretRotationController:
    name: ClassVar[str] = "secrets"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.interval = interval_setting(settings, 10.0)

    def tick(self, ctx: ControllerContext) -> None:
        now = datetime.now(UTC)
        for address, record in sorted(ctx.resources("Secret").items()):
            if record.status is not Status.READY or ctx.stop.is_set():
                continue
            spec = SecretSpec.model_validate(dict(record.inputs))
            expires = record.outputs.get("expires_at")
            if spec.due(str(record.outputs.get("rotated_at") or ""), now,
                        expires_at=str(expires) if expires else None):
                self._rotate(ctx, address, spec)

    def _rotate(self, ctx: ControllerContext, address: Address, spec: SecretSpec) -> None:
        started = time.monotonic()
        if not ctx.repair(address, f"rotate: every {spec.rotateEvery}"):
            return
        fresh = ctx.resources("Secret").get(address)
        if fresh is None:
            return
        new_ref = str(fresh.outputs.get("ref"))
        ctx.event("secret.rotated", address=str(address), ref=new_ref,
                  seconds=round(time.monotonic() - started, 3))
        for service, record in sorted(ctx.resources("Service").items()):
            self._roll(ctx, service, record, f"{spec.mount}/{spec.path}", new_ref)

    def _roll(self, ctx: ControllerContext, service: Address, record: Recorded, prefix: str,
              new_ref: str) -> None:
        inputs = with_new_ref(record.inputs, prefix, new_ref)
        if inputs is None or record.status is not Status.READY:
            return
        started = time.monotonic()
        done = ctx.repair(service, f"roll: {prefix} rotated to {new_ref}", inputs=inputs)
        ctx.event("service.rolled_for_secret" if done else "service.roll_skipped",
                  address=str(service), ref=new_ref,
                  seconds=round(time.monotonic() - started, 3))


def secret_rotation_controller(settings: Mapping[str, Any]) -> SecretRotationController:
    return SecretRotationController(settings)
