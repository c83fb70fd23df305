"""The daemon's ``databases`` controller: rotates ``Database`` passwords on schedule and rolls
the services that use them, without downtime.

For each rotating database (``rotatePasswordEvery``, see :mod:`stackwright.data.slots`):

1. when due, a repair of the Database: its driver sets a new password on the other login
   slot and makes it active (the old slot still logs in: it is *retiring*);
2. each Service whose recorded inputs hold the retiring credentials (services record the
   resolved URL, encrypted) is repaired with the new values: a rolling update, new replicas
   with the new URL while old ones keep working with the old slot;
3. once no recorded service holds them, a second repair retires the old slot (NOLOGIN, its
   sessions ended).

Step 2 and 3 also finish a rotation made by ``apply`` (a changed ``rotation`` counter): that
apply rolled the services already, so the old slot is retired at the next tick. The next
``plan`` is empty: the spec's ``${{ Database.db.internalUrl }}`` resolves to the recorded
new output, which is what the services have.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from stackwright.core.controllers import ControllerContext, interval_setting
from stackwright.core.model import Address, Recorded, Status
from stackwright.data import postgres as pg
from stackwright.data import slots
from stackwright.data.database import DATABASE_KIND, DatabaseSpec


def swaps_for(outputs: Mapping[str, Any]) -> tuple[list[tuple[str, str]],
                                                   tuple[str, str] | None]:
    """The (old, new) values a service holding the retiring credentials changes (URLs first,
    then the bare password), and the (old, new) user names (None for the owner's slot)."""
    retiring, old_pw = str(outputs.get("retiring") or ""), str(
        outputs.get("retiringPassword") or "")
    owner, database = str(outputs["owner"]), str(outputs["database"])
    old_user = slots.role(owner, retiring)
    swaps = [(pg.url(old_user, old_pw, str(outputs["host"]), int(outputs["port"]), database),
              str(outputs["url"]))]
    if outputs.get("internalUrl"):
        swaps.append((pg.url(old_user, old_pw, str(outputs["internalHost"]),
                             int(outputs["internalPort"]), database),
                      str(outputs["internalUrl"])))
    swaps.append((old_pw, str(outputs["password"])))
    users = None if retiring == slots.OWNER else (old_user, str(outputs["user"]))
    return swaps, users


def services_to_roll(services: Mapping[Address, Recorded], outputs: Mapping[str, Any]
                     ) -> dict[Address, dict[str, Any]]:
    """The services holding the retiring credentials, with their new inputs."""
    old_pw = str(outputs.get("retiringPassword") or "")
    swaps, users = swaps_for(outputs)
    rolls: dict[Address, dict[str, Any]] = {}
    for address, record in sorted(services.items()):
        if not slots.holds(record.inputs, old_pw):
            continue
        inputs = slots.replaced(record.inputs, swaps, users)
        if inputs is not None:
            rolls[address] = inputs
    return rolls


class DatabaseRotationController:
    name: ClassVar[str] = "databases"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.interval = interval_setting(settings, 10.0)

    def tick(self, ctx: ControllerContext) -> None:
        now = datetime.now(UTC)
        for address, record in sorted(ctx.resources("Database").items()):
            if record.status is not Status.READY or ctx.stop.is_set():
                continue
            spec = DATABASE_KIND.parse(record.inputs)
            assert isinstance(spec, DatabaseSpec)
            state = slots.SlotState.of(record.outputs)
            if state.active == slots.OWNER:
                continue
            if state.retiring is None:
                if not slots.due(spec.rotatePasswordEvery, state.rotated_at, now):
                    continue
                if not self._rotate(ctx, address, spec):
                    continue
            self._roll_and_retire(ctx, address)

    def _rotate(self, ctx: ControllerContext, address: Address, spec: DatabaseSpec) -> bool:
        started = time.monotonic()
        if not ctx.repair(address, f"rotate the password: every {spec.rotatePasswordEvery}"):
            return False
        fresh = ctx.resources("Database").get(address)
        if fresh is None or not fresh.outputs.get("retiring"):
            return False
        ctx.event("database.rotated", address=str(address), slot=fresh.outputs.get("slot"),
                  seconds=round(time.monotonic() - started, 3))
        return True

    def _roll_and_retire(self, ctx: ControllerContext, address: Address) -> None:
        record = ctx.resources("Database").get(address)
        if record is None or not record.outputs.get("retiringPassword"):
            return
        retiring = str(record.outputs.get("retiring"))
        for service, inputs in services_to_roll(ctx.resources("Service"),
                                                record.outputs).items():
            started = time.monotonic()
            done = ctx.repair(service, f"roll: {address} password rotated", inputs=inputs)
            ctx.event("service.rolled_for_database" if done else "service.roll_skipped",
                      address=str(service), database=str(address),
                      seconds=round(time.monotonic() - started, 3))
        holding = sorted(str(a) for a, r in ctx.resources("Service").items()
                         if slots.holds(r.inputs, str(record.outputs["retiringPassword"])))
        if holding:  # retried at the next tick; the old slot keeps working meanwhile
            ctx.event("database.retire_waiting", address=str(address), services=holding)
            return
        if ctx.repair(address, f"retire the login slot {retiring}"):
            ctx.event("database.retired", address=str(address), slot=retiring)


def database_rotation_controller(settings: Mapping[str, Any]) -> DatabaseRotationController:
    return DatabaseRotationController(settings)
