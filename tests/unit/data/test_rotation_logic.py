"""Pure parts of password rotation: slots, the due logic, what an update does, the SQL, and
which services are rolled with which values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from stackwright.core.model import Address, Recorded, Status
from stackwright.data import postgres as pg
from stackwright.data import slots
from stackwright.data.database import DATABASE_KIND, DatabaseSpec, PodmanDatabaseDriver
from stackwright.data.rotation import DatabaseRotationController, services_to_roll, swaps_for
from stackwright.data.slots import OWNER, SlotState, Step, Wanted, decide

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
OLD_PW = "old-Password_0123456789abcdefghij"
NEW_PW = "new-Password_0123456789abcdefghij"


def test_slot_roles_and_next_slot() -> None:
    assert [slots.role("shop", s) for s in (OWNER, "a", "b")] == ["shop", "shop_a", "shop_b"]
    assert [slots.next_slot(s) for s in (OWNER, "a", "b")] == ["a", "b", "a"]


@pytest.mark.parametrize(("every", "ago", "expected"), [
    ("30d", timedelta(days=29), False), ("30d", timedelta(days=30), True),
    ("2s", timedelta(seconds=3), True), (None, timedelta(days=999), False),
])
def test_due(every: str | None, ago: timedelta, expected: bool) -> None:
    rotated_at = (NOW - ago).isoformat(timespec="seconds")
    assert slots.due(every, rotated_at, NOW) is expected
    assert slots.due(every, None, NOW) is False


def test_period_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="not a period"):
        slots.period("monthly")
    with pytest.raises(ValidationError, match="not a period"):
        DatabaseSpec(database="shop", rotatePasswordEvery="monthly")


def _wanted(rotates: bool = True, every: str | None = "1h", before: int = 0,
            after: int = 0) -> Wanted:
    return Wanted(rotates=rotates, every=every, rotation_before=before, rotation_after=after)


RECENT = (NOW - timedelta(minutes=1)).isoformat()
LONG_AGO = (NOW - timedelta(hours=2)).isoformat()


@pytest.mark.parametrize(("wanted", "state", "repair", "step"), [
    # a database made before rotation keeps its single login until rotation is asked for
    (_wanted(rotates=False, every=None), SlotState(), False, None),
    (_wanted(rotates=False, every=None), SlotState(), True, None),
    (_wanted(), SlotState(), False, Step.ROTATE),  # migration to slots
    (_wanted(), SlotState("a", None, RECENT), True, None),
    (_wanted(), SlotState("a", None, LONG_AGO), True, Step.ROTATE),  # due
    (_wanted(), SlotState("a", None, LONG_AGO), False, Step.ROTATE),
    (_wanted(every=None, before=1, after=2), SlotState("b", None, RECENT), False, Step.ROTATE),
    # a retiring slot is retired by a repair, never by a user's change
    (_wanted(), SlotState("b", "a", LONG_AGO), True, Step.RETIRE),
    (_wanted(), SlotState("b", "a", LONG_AGO), False, None),
    # ... but a manual rotation goes ahead (that apply rolled the services)
    (_wanted(before=1, after=2), SlotState("b", "a", RECENT), True, Step.ROTATE),
])
def test_decide(wanted: Wanted, state: SlotState, repair: bool, step: Step | None) -> None:
    assert decide(wanted, state, NOW, repair) is step


def test_slot_state_of_a_record_made_before_rotation() -> None:
    assert SlotState.of({"user": "shop", "password": "x"}) == SlotState(OWNER, None, None)
    assert SlotState.of({"slot": "b", "retiring": "a", "rotated_at": RECENT}) == \
        SlotState("b", "a", RECENT)


def test_spec_rotates_only_when_asked_and_names_fit() -> None:
    assert not DatabaseSpec(database="shop").rotates
    assert DatabaseSpec(database="shop", rotation=1).rotates
    assert DatabaseSpec(database="shop", rotatePasswordEvery="30d").rotates
    with pytest.raises(ValidationError, match="at most 61"):
        DatabaseSpec(database="shop", user="u" * 62, rotation=1)
    assert PodmanDatabaseDriver().initial_slot(DatabaseSpec(database="shop", rotation=1)) == "a"
    assert PodmanDatabaseDriver().initial_slot(DatabaseSpec(database="shop")) == OWNER
    # rotation fields change nothing that needs a new container
    assert {"rotatePasswordEvery", "rotation"} <= PodmanDatabaseDriver.in_place_fields


def test_predicted_user_only_without_rotation() -> None:
    assert DATABASE_KIND.predict_outputs({"database": "shop"})["user"] == "shop"
    predicted = DATABASE_KIND.predict_outputs({"database": "shop", "rotation": 1})
    assert "user" not in predicted and predicted["owner"] == "shop"
    assert "retiringPassword" in DATABASE_KIND.sensitive_outputs


def test_slots_sql_keeps_the_owner_nologin_and_only_kept_roles_logging_in() -> None:
    sql = pg.slots_sql("shop", "app", ("app_a", "app_b"), "app_b",
                       frozenset({"app_b", "app_a"}), "SCRAM-SHA-256$x")
    assert "CREATE ROLE \"app\" NOLOGIN" in sql
    assert "GRANT \"app\" TO \"app_a\";" in sql and "GRANT \"app\" TO \"app_b\";" in sql
    assert "ALTER ROLE \"app_a\" SET role = 'app';" in sql
    assert "ALTER ROLE \"app_b\" WITH LOGIN PASSWORD 'SCRAM-SHA-256$x';" in sql
    assert "ALTER ROLE \"app\" WITH NOLOGIN PASSWORD NULL;" in sql
    assert "ALTER ROLE \"app_a\" WITH NOLOGIN" not in sql
    assert sql.startswith("SET log_statement = 'none';")
    retire = pg.retire_sql("app_a")
    assert "NOLOGIN PASSWORD NULL" in retire and "pg_terminate_backend" in retire
    with pytest.raises(ValueError, match="plain identifier"):
        pg.retire_sql("x'; DROP ROLE app; --")


def _outputs(retiring: str = "a") -> dict[str, Any]:
    user = "app_b"
    return {
        "host": "127.0.0.1", "port": 15432, "database": "shop", "owner": "app", "user": user,
        "password": NEW_PW, "url": pg.url(user, NEW_PW, "127.0.0.1", 15432, "shop"),
        "internalHost": "db", "internalPort": 5432,
        "internalUrl": pg.url(user, NEW_PW, "db", 5432, "shop"), "slot": "b",
        "retiring": retiring, "retiringPassword": OLD_PW,
    }


def _service(**inputs: Any) -> Recorded:
    return Recorded(Address("Service", "x"), "x", inputs, {}, Status.READY)


def test_services_holding_the_old_credentials_get_the_new_ones() -> None:
    old_user = "app_a"
    old_internal = pg.url(old_user, OLD_PW, "db", 5432, "shop")
    old_url = pg.url(old_user, OLD_PW, "127.0.0.1", 15432, "shop")
    services = {
        Address("Service", "web"): _service(
            image="i", secrets=[{"value": old_internal, "file": "/run/secrets/db"}],
            env={"MODE": "prod"}),
        Address("Service", "worker"): _service(
            image="i", env={"DB": old_url + "?sslmode=disable", "PW": OLD_PW, "U": old_user}),
        Address("Service", "other"): _service(image="i", env={"DB": "postgresql://x@y/z"}),
    }
    rolls = services_to_roll(services, _outputs())
    assert sorted(str(a) for a in rolls) == ["Service/web", "Service/worker"]
    out = _outputs()
    assert rolls[Address("Service", "web")]["secrets"] == [
        {"value": out["internalUrl"], "file": "/run/secrets/db"}]
    assert rolls[Address("Service", "web")]["env"] == {"MODE": "prod"}
    assert rolls[Address("Service", "worker")]["env"] == {
        "DB": out["url"] + "?sslmode=disable", "PW": NEW_PW, "U": "app_b"}
    assert not any(slots.holds(i, OLD_PW) for i in rolls.values())


def test_the_owners_name_is_not_swapped_alone() -> None:
    swaps, users = swaps_for(_outputs(retiring=OWNER))
    assert users is None
    assert swaps[0][0] == pg.url("app", OLD_PW, "127.0.0.1", 15432, "shop")
    assert swaps[-1] == (OLD_PW, NEW_PW)
    inputs = {"env": {"DB_NAME": "app", "PW": OLD_PW}}
    assert slots.replaced(inputs, swaps, users) == {"env": {"DB_NAME": "app", "PW": NEW_PW}}
    assert slots.replaced({"env": {"A": "b"}}, swaps, users) is None


class RecordingContext:
    """A ControllerContext over an in-memory state: a repair applies what the real drivers
    would record (the Database rotates or retires, a Service takes the given inputs)."""

    project, environment, settings = "shop", "dev", {}

    def __init__(self, db: dict[str, Any], services: dict[Address, Recorded],
                 refuse: frozenset[Address] = frozenset()) -> None:
        import threading

        self.stop = threading.Event()
        self.db = Recorded(Address("Database", "db"), "c", {"database": "shop", "user": "app",
                           "rotatePasswordEvery": "1h"}, db)
        self.services, self.refuse = dict(services), refuse
        self.repairs: list[str] = []
        self.events: list[str] = []

    def resources(self, kind: str) -> dict[Address, Recorded]:
        return {self.db.address: self.db} if kind == "Database" else dict(self.services)

    def driver_context(self, address: Address) -> Any:
        raise AssertionError("not used")

    def repair(self, address: Address, reason: str,
               inputs: Mapping[str, Any] | None = None) -> bool:
        self.repairs.append(f"{address}: {reason}")
        if address in self.refuse:
            return False
        if address.kind == "Service":
            old = self.services[address]
            self.services[address] = Recorded(address, old.id, dict(inputs or {}), {})
        elif self.db.outputs.get("retiring"):
            self.db = replace(self.db, outputs={**self.db.outputs, "retiring": None,
                                                "retiringPassword": None})
        else:
            self.db = replace(self.db, outputs=_outputs())
        return True

    def event(self, name: str, **fields: Any) -> None:
        self.events.append(name)


def _before_rotation() -> dict[str, Any]:
    out = _outputs()
    user = "app_a"
    return {**out, "user": user, "password": OLD_PW, "slot": "a", "retiring": None,
            "retiringPassword": None, "rotated_at": LONG_AGO,
            "url": pg.url(user, OLD_PW, "127.0.0.1", 15432, "shop"),
            "internalUrl": pg.url(user, OLD_PW, "db", 5432, "shop")}


def test_controller_rotates_then_rolls_then_retires() -> None:
    web = Address("Service", "web")
    old = _before_rotation()
    ctx = RecordingContext(old, {web: _service(secrets=[{"value": old["internalUrl"],
                                                         "file": "/run/db"}])})
    DatabaseRotationController({}).tick(ctx)
    assert [r.split(":")[0] for r in ctx.repairs] == ["Database/db", "Service/web",
                                                      "Database/db"]
    assert "retire" in ctx.repairs[-1]
    assert ctx.services[web].inputs["secrets"][0]["value"] == _outputs()["internalUrl"]
    assert ctx.events == ["database.rotated", "service.rolled_for_database",
                          "database.retired"]
    ctx.repairs.clear()
    DatabaseRotationController({}).tick(ctx)  # not due again: nothing to do
    assert ctx.repairs == []


def test_controller_keeps_the_old_slot_while_a_service_holds_it() -> None:
    web = Address("Service", "web")
    old = _before_rotation()
    ctx = RecordingContext(old, {web: _service(env={"DB": old["url"]})}, refuse=frozenset({web}))
    DatabaseRotationController({}).tick(ctx)
    assert [r.split(":")[0] for r in ctx.repairs] == ["Database/db", "Service/web"]
    assert ctx.db.outputs["retiring"] == "a"
    assert ctx.events[-1] == "database.retire_waiting"
    ctx.refuse = frozenset()
    DatabaseRotationController({}).tick(ctx)  # the next tick finishes the rotation
    assert ctx.db.outputs["retiring"] is None
    assert ctx.services[web].inputs["env"] == {"DB": _outputs()["url"]}
