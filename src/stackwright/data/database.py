"""The ``Database`` kind: a PostgreSQL instance in a podman container, data on a volume."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from stackwright.core.kinds import DriverContext, Kind, SpecModel
from stackwright.core.model import Applied, Declared, Recorded
from stackwright.data import postgres as pg
from stackwright.data import slots
from stackwright.data.instance import (
    HOST,
    IN_PLACE_FIELDS,
    Instance,
    InstanceDriver,
    Stash,
    check_alive,
    generate_password,
    recorded_instance,
    wait_failed,
)
from stackwright.data.spec import InstanceSpec, clashes, normalized
from stackwright.durations import period
from stackwright.errors import PermanentError, SpecError
from stackwright.local import podman_for
from stackwright.tools._proc import run
from stackwright.tools.podman import Podman
from stackwright.tools.podman_facts import classify_failure

POLL = 0.2


class DatabaseSpec(InstanceSpec):
    database: str = Field(description="Name of the database to create.")
    user: str | None = Field(None, description="Its owner, who logs in (default: the "
                                               "database's name).")
    settings: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="postgresql.conf parameters, e.g. "
                                          "{max_connections: 50, shared_buffers: 64MB}.")
    rotatePasswordEvery: str | None = Field(  # noqa: N815
        None, description="Rotate the password this often (the daemon does it), rolling the "
                          "services that use it: 30d, 12h.")
    rotation: int = Field(0, ge=0, description="Change it (e.g. 1 → 2) to rotate the "
                                               "password at the next apply.")
    dynamicCredentials: bool = Field(  # noqa: N815
        False, description="Also make a login role <user>_admin that may create roles acting "
                           "as the owner, for the secrets API's database/ mount (outputs "
                           "adminUser, adminPassword, adminUrl).")

    @field_validator("rotatePasswordEvery")
    @classmethod
    def _period(cls, value: str | None) -> str | None:
        if value is not None:
            period(value)
        return value

    @field_validator("database")
    @classmethod
    def _database(cls, value: str) -> str:
        return _identifier(value, pg.RESERVED_DATABASES, "database")

    @field_validator("user")
    @classmethod
    def _user(cls, value: str | None) -> str | None:
        return None if value is None else _identifier(value, pg.RESERVED_USERS, "user")

    @field_validator("settings")
    @classmethod
    def _settings(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not pg.SETTING_NAME.match(name):
                raise ValueError(f"not a postgresql.conf parameter name: {name!r}")
            if name in pg.MANAGED_SETTINGS:
                raise ValueError(f"{name} is set by Stackwright and cannot be changed")
        return value

    @model_validator(mode="after")
    def _user_is_not_superuser(self) -> DatabaseSpec:
        if self.user is None and self.database in pg.RESERVED_USERS:
            raise ValueError(f"give a user: {self.database!r} is the superuser")
        return self

    @model_validator(mode="after")
    def _slot_names_fit(self) -> DatabaseSpec:
        if self.rotates and len(self.owner) > 61:
            raise ValueError(f"with password rotation the user name is at most 61 characters "
                             f"(its login roles are {self.owner}_a and _b)")
        return self

    @model_validator(mode="after")
    def _admin_name_fits(self) -> DatabaseSpec:
        if self.dynamicCredentials and len(pg.admin_role(self.owner)) > 63:
            raise ValueError(f"with dynamicCredentials the user name is at most "
                             f"{63 - len(pg.ADMIN_SUFFIX)} characters (its admin role is "
                             f"{self.owner}{pg.ADMIN_SUFFIX})")
        return self

    @property
    def owner(self) -> str:
        return self.user or self.database

    @property
    def rotates(self) -> bool:
        """Whether the database logs in through two rotating slots (data/slots.py)."""
        return self.rotatePasswordEvery is not None or self.rotation > 0


def _identifier(value: str, reserved: frozenset[str], what: str) -> str:
    if not pg.IDENTIFIER.match(value):
        raise ValueError(f"a {what} name is lowercase letters, digits and _, starting with a "
                         f"letter or _ (at most 63), got {value!r}")
    if value in reserved:
        raise ValueError(f"{value!r} is reserved by PostgreSQL; choose another {what} name")
    return value


class DatabaseKind(Kind):
    """A PostgreSQL database with its own user and generated password, data on a volume.

    ```yaml
    apiVersion: stackwright.dev/v1
    kind: Database
    metadata: {name: db}
    spec:
      database: shop
      user: shop                       # default: the database's name
      port: 15432                      # on 127.0.0.1; default: a free port, kept
      network: "${{ Network.backend.name }}"   # reachable there as db:5432
      resources: {cpus: 1, memory: 512m}
      settings: {max_connections: 50}
      rotatePasswordEvery: 30d         # the daemon rotates it and rolls the services
      rotation: 1                      # change it to rotate at the next apply
      dynamicCredentials: true         # a login role shop_admin for database/creds/…
    ```

    The server runs as the ``postgres`` user in a container restarted by podman itself, with
    its cluster on a volume (``sw-<project>-<key>-<env>-<name>-data`` unless ``volume`` names one);
    the cluster is initialised on first start only. The user's password is generated (32
    URL-safe characters), set as a SCRAM verifier, and kept: a container removed or a resource
    destroyed and applied again comes back with the same data, password and port. Destroy keeps
    the data unless ``deleteData: true``. A change of any field but ``deleteData``,
    ``startTimeout`` or ``running`` restarts the container on the same volume. Outputs:
    ``host``, ``port``, ``user``, ``database``, ``password`` and ``url`` (sensitive),
    ``container``, ``volume``; on a network ``internalHost``, ``internalPort`` and
    ``internalUrl`` (sensitive).

    With ``rotatePasswordEvery`` or ``rotation`` the owner cannot log in; two login roles
    ``<user>_a`` and ``<user>_b`` act as it, one of them active (``user``, ``slot``), so that a
    rotation keeps the old credentials working until the services are rolled
    (:mod:`stackwright.data.slots`). Outputs then also: ``owner``, ``slot``, ``retiring``,
    ``rotated_at``, ``retiringPassword`` (sensitive).

    With ``dynamicCredentials: true`` a login role ``<user>_admin`` (CREATEROLE, member of the
    owner WITH ADMIN OPTION, its own generated password kept like the other) lets the secrets
    API's ``database/`` mount create short-lived users that act as the owner. Outputs then
    also: ``adminUser``, ``adminPassword`` and ``adminUrl`` (sensitive). Turning it on or off
    changes the running database in place; off makes the role NOLOGIN.
    """

    name: ClassVar[str] = "Database"
    spec_model = DatabaseSpec
    outputs = ("host", "port", "user", "database", "password", "url", "container", "volume",
               "internalHost", "internalPort", "internalUrl", "owner", "slot", "retiring",
               "rotated_at", "retiringPassword", "adminUser", "adminPassword", "adminUrl")
    sensitive_outputs = frozenset({"password", "url", "internalUrl", "retiringPassword",
                                   "adminPassword", "adminUrl"})
    drivers = {"local": lambda: PodmanDatabaseDriver()}

    def normalize(self, spec: SpecModel) -> dict[str, Any]:
        assert isinstance(spec, DatabaseSpec)
        return normalized(spec, super().normalize(spec))

    def predict_outputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        spec = DatabaseSpec.model_validate(dict(inputs))
        known: dict[str, Any] = {"host": HOST, "database": spec.database, "owner": spec.owner,
                                 "internalPort": pg.CONTAINER_PORT}
        if not spec.rotates:  # a rotating database's user is the login slot of the moment
            known["user"] = spec.owner
        if spec.dynamicCredentials:
            known["adminUser"] = pg.admin_role(spec.owner)
        return {**known, **({"port": spec.port} if spec.port is not None else {})}

    def validate_together(self, resources: Sequence[Declared]) -> list[SpecError]:
        return clashes(resources, "Database")


class PodmanDatabaseDriver(InstanceDriver):
    engine: ClassVar[str] = "postgres"
    container_port: ClassVar[int] = pg.CONTAINER_PORT
    stop_signal: ClassVar[str | None] = "SIGINT"  # PostgreSQL's fast shutdown
    in_place_fields = IN_PLACE_FIELDS | {"rotatePasswordEvery", "rotation",
                                         "dynamicCredentials"}

    def parse(self, inputs: Mapping[str, Any]) -> DatabaseSpec:
        return DatabaseSpec.model_validate(dict(inputs))

    def initial_slot(self, spec: InstanceSpec) -> str:
        assert isinstance(spec, DatabaseSpec)
        return slots.SLOTS[0] if spec.rotates else slots.OWNER

    def wants_admin(self, spec: InstanceSpec) -> bool:
        assert isinstance(spec, DatabaseSpec)
        return spec.dynamicCredentials

    def server(self, spec: InstanceSpec, password: str) -> tuple[str, list[str]]:
        assert isinstance(spec, DatabaseSpec)
        settings = {k: pg.setting_value(v) for k, v in spec.settings.items()}
        return pg.ENTRY_SCRIPT, pg.server_args(settings)

    def provision(self, podman: Podman, spec: InstanceSpec, inst: Instance,
                  deadline: float) -> None:
        assert isinstance(spec, DatabaseSpec)
        _wait_ready(podman, inst, deadline)
        verifier = pg.scram_verifier(inst.password)
        owner = spec.owner
        if inst.slot == slots.OWNER:
            sql = pg.setup_sql(spec.database, owner, verifier)
        else:
            keep = {slots.role(owner, s) for s in (inst.slot, inst.retiring) if s is not None}
            sql = pg.slots_sql(spec.database, owner, (slots.role(owner, "a"),
                               slots.role(owner, "b")), slots.role(owner, inst.slot),
                               frozenset(keep), verifier)
        admin_verifier = pg.scram_verifier(inst.admin_password) if inst.admin_password else ""
        sql += _admin_sql(spec, admin_verifier)
        _psql(podman, inst.container, sql, verifier, admin_verifier)
        _wait_login(podman, spec, inst, deadline)
        if spec.dynamicCredentials and inst.admin_password:
            _wait_login(podman, spec, inst, deadline, admin=True)

    def outputs(self, spec: InstanceSpec, inst: Instance) -> dict[str, Any]:
        assert isinstance(spec, DatabaseSpec)
        user, db, pw = slots.role(spec.owner, inst.slot), spec.database, inst.password
        internal = spec.network is not None
        alias = inst.address.name
        return {
            "host": HOST, "port": inst.port, "user": user, "database": db, "password": pw,
            "url": pg.url(user, pw, HOST, inst.port, db), "container": inst.container,
            "volume": inst.volume, "internalHost": alias if internal else None,
            "internalPort": pg.CONTAINER_PORT,
            "internalUrl": pg.url(user, pw, alias, pg.CONTAINER_PORT, db) if internal else None,
            "owner": spec.owner, "slot": inst.slot, "retiring": inst.retiring,
            **_admin_outputs(spec, inst),
        }

    # Rotation (data/slots.py)

    def create(self, ctx: DriverContext, inputs: Mapping[str, Any]) -> Applied:
        applied = super().create(ctx, inputs)
        return Applied(id=applied.id, outputs={**applied.outputs, "rotated_at": _now()})

    def update(self, ctx: DriverContext, recorded: Recorded, inputs: Mapping[str, Any]
               ) -> Applied:
        before, spec = self.parse(recorded.inputs), self.parse(inputs)
        state = slots.SlotState.of(recorded.outputs)
        wanted = slots.Wanted(rotates=spec.rotates, every=spec.rotatePasswordEvery,
                              rotation_before=before.rotation, rotation_after=spec.rotation)
        step = slots.decide(wanted, state, datetime.now(UTC),
                            repair=dict(inputs) == dict(recorded.inputs))
        if step is not None and not spec.running:
            raise PermanentError(f"cannot {step.value} the password of a stopped database",
                                 hint="set spec.running: true, or leave spec.rotation as it "
                                      "was")
        if before.dynamicCredentials != spec.dynamicCredentials and not spec.running:
            raise PermanentError("cannot change dynamicCredentials of a stopped database",
                                 hint="set spec.running: true, or leave "
                                      "spec.dynamicCredentials as it was")
        applied = super().update(ctx, recorded, inputs)
        kept = {k: recorded.outputs.get(k) for k in ("rotated_at", "retiringPassword")}
        outputs = {**kept, **applied.outputs}
        if step is not None:
            inst = recorded_instance(Recorded(recorded.address, applied.id, inputs, outputs))
            change = self._rotate if step is slots.Step.ROTATE else self._retire
            outputs.update(change(ctx, spec, inst))
        if bool(outputs.get("adminPassword")) != spec.dynamicCredentials:  # changed in place
            inst = recorded_instance(Recorded(recorded.address, applied.id, inputs, outputs))
            outputs.update(self._switch_admin(ctx, spec, inst))
        return Applied(id=applied.id, outputs=outputs)

    def _rotate(self, ctx: DriverContext, spec: DatabaseSpec, inst: Instance
                ) -> dict[str, Any]:
        """A new password on the other slot, which becomes the active one."""
        podman = podman_for(ctx)
        slot, password = slots.next_slot(inst.slot), generate_password()
        name = slots.role(spec.owner, slot)
        verifier = pg.scram_verifier(password)
        ctx.log(f"rotating the password: {name} logs in now, "
                f"{slots.role(spec.owner, inst.slot)} until the services are rolled")
        if inst.slot == slots.OWNER:  # first rotation: make the slot roles
            keep = frozenset({spec.owner, name})
            roles = (slots.role(spec.owner, "a"), slots.role(spec.owner, "b"))
            _psql(podman, inst.container, pg.slots_sql(spec.database, spec.owner, roles, name,
                                                       keep, verifier), verifier)
        else:
            _psql(podman, inst.container, pg.password_sql(name, verifier), verifier)
        Stash(Path(podman.volume_inspect(inst.volume).mountpoint), self.engine).save(
            password, inst.port, slot)
        if inst.retiring not in (None, slot):  # a manual rotation while one was retiring
            assert inst.retiring is not None
            _psql(podman, inst.container, pg.retire_sql(slots.role(spec.owner, inst.retiring)),
                  "")
        new = replace(inst, slot=slot, password=password, retiring=inst.slot)
        _wait_login(podman, spec, new, time.monotonic() + spec.startTimeout)
        return {**self.outputs(spec, new), "rotated_at": _now(),
                "retiringPassword": inst.password}

    def _retire(self, ctx: DriverContext, spec: DatabaseSpec, inst: Instance
                ) -> dict[str, Any]:
        assert inst.retiring is not None
        name = slots.role(spec.owner, inst.retiring)
        ctx.log(f"retiring {name}: it can no longer log in, its sessions are ended")
        _psql(podman_for(ctx), inst.container, pg.retire_sql(name), "")
        return {"retiring": None, "retiringPassword": None}

    # Dynamic credentials

    def _switch_admin(self, ctx: DriverContext, spec: DatabaseSpec, inst: Instance
                      ) -> dict[str, Any]:
        """Turn the credentials admin on or off in the running server."""
        podman = podman_for(ctx)
        stash = Stash(Path(podman.volume_inspect(inst.volume).mountpoint), self.engine)
        admin = pg.admin_role(spec.owner)
        if not spec.dynamicCredentials:
            ctx.log(f"{admin} can no longer log in nor create roles (dynamicCredentials off)")
            _psql(podman, inst.container, pg.admin_off_sql(admin))
            stash.save_admin(None)
            return {"adminUser": None, "adminPassword": None, "adminUrl": None}
        password = stash.admin_password() or generate_password()
        stash.save_admin(password)
        ctx.log(f"creating {admin}: it may create users acting as {spec.owner}")
        verifier = pg.scram_verifier(password)
        _psql(podman, inst.container, pg.admin_sql(spec.owner, admin, verifier), verifier)
        new = replace(inst, admin_password=password)
        _wait_login(podman, spec, new, time.monotonic() + spec.startTimeout, admin=True)
        return _admin_outputs(spec, new)


def _admin_sql(spec: DatabaseSpec, verifier: str) -> str:
    """The credentials admin made (or its password set again), or turned off if it exists."""
    admin = pg.admin_role(spec.owner)
    if spec.dynamicCredentials and verifier:
        return pg.admin_sql(spec.owner, admin, verifier)
    return "" if spec.dynamicCredentials else pg.admin_off_sql(admin)


def _admin_outputs(spec: DatabaseSpec, inst: Instance) -> dict[str, Any]:
    if not inst.admin_password:
        return {"adminUser": None, "adminPassword": None, "adminUrl": None}
    admin = pg.admin_role(spec.owner)
    return {"adminUser": admin, "adminPassword": inst.admin_password,
            "adminUrl": pg.url(admin, inst.admin_password, HOST, inst.port, spec.database)}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _wait_ready(podman: Podman, inst: Instance, deadline: float) -> None:
    """Until ``pg_isready`` on the server's socket succeeds (initdb runs first, once)."""
    while True:
        done = podman.probe(["exec", "--user", "postgres", inst.container, *pg.PG_ISREADY],
                            timeout=30)
        if done.returncode == 0:
            return
        check_alive(podman, inst)
        if time.monotonic() > deadline:
            raise wait_failed(podman, inst.container, f"PostgreSQL in {inst.container} was "
                              "not ready in time (spec.startTimeout)")
        time.sleep(POLL)


def _psql(podman: Podman, container: str, sql: str, *verifiers: str) -> None:
    """Run ``sql`` as the superuser over the server's socket; the SQL goes in on stdin."""
    argv = [podman.settings.binary, *podman.settings.extra_args, "exec", "-i", "--user",
            "postgres", container, *pg.PSQL]
    done = run(argv, env=podman.env, timeout=60, input_text=sql)
    if done.returncode != 0:
        stderr = done.stderr
        for verifier in filter(None, verifiers):
            stderr = stderr.replace(verifier, "(sensitive)")
        raise classify_failure(argv[:8], stderr, f"setting up the users of {container}")


def _wait_login(podman: Podman, spec: DatabaseSpec, inst: Instance, deadline: float,
                admin: bool = False) -> None:
    """Until the user (or the credentials admin) logs in over TCP with its password, as a
    client will."""
    import psycopg

    user = pg.admin_role(spec.owner) if admin else slots.role(spec.owner, inst.slot)
    password = (inst.admin_password or "") if admin else inst.password
    while True:
        try:
            with psycopg.connect(host=HOST, port=inst.port, user=user,
                                 password=password, dbname=spec.database,
                                 connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.Error as exc:
            error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        check_alive(podman, inst)
        if time.monotonic() > deadline:
            raise wait_failed(podman, inst.container,
                              f"logging in to {spec.database} on {HOST}:{inst.port} as "
                              f"{user} failed: {error}")
        time.sleep(POLL)


DATABASE_KIND = DatabaseKind()
