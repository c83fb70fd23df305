"""The ``Database`` kind: a PostgreSQL instance in a podman container, data on a volume."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from stackwright.core.kinds import Kind, SpecModel
from stackwright.core.model import Declared
from stackwright.data import postgres as pg
from stackwright.data.instance import (
    HOST,
    Instance,
    InstanceDriver,
    check_alive,
    wait_failed,
)
from stackwright.data.spec import InstanceSpec, clashes, normalized
from stackwright.errors import SpecError
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

    @property
    def owner(self) -> str:
        return self.user or self.database


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
    ```

    The server runs as the ``postgres`` user in a container restarted by podman itself, with
    its cluster on a volume (``sw-<project>-<env>-<name>-data`` unless ``volume`` names one);
    the cluster is initialised on first start only. The user's password is generated (32
    URL-safe characters), set as a SCRAM verifier, and kept: a container removed or a resource
    destroyed and applied again comes back with the same data, password and port. Destroy keeps
    the data unless ``deleteData: true``. A change of any field but ``deleteData``,
    ``startTimeout`` or ``running`` restarts the container on the same volume. Outputs:
    ``host``, ``port``, ``user``, ``database``, ``password`` and ``url`` (sensitive),
    ``container``, ``volume``; on a network ``internalHost``, ``internalPort`` and
    ``internalUrl`` (sensitive).
    """

    name: ClassVar[str] = "Database"
    spec_model = DatabaseSpec
    outputs = ("host", "port", "user", "database", "password", "url", "container", "volume",
               "internalHost", "internalPort", "internalUrl")
    sensitive_outputs = frozenset({"password", "url", "internalUrl"})
    drivers = {"local": lambda: PodmanDatabaseDriver()}

    def normalize(self, spec: SpecModel) -> dict[str, Any]:
        assert isinstance(spec, DatabaseSpec)
        return normalized(spec, super().normalize(spec))

    def predict_outputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        spec = DatabaseSpec.model_validate(dict(inputs))
        known: dict[str, Any] = {"host": HOST, "user": spec.owner, "database": spec.database,
                                 "internalPort": pg.CONTAINER_PORT}
        return {**known, **({"port": spec.port} if spec.port is not None else {})}

    def validate_together(self, resources: Sequence[Declared]) -> list[SpecError]:
        return clashes(resources, "Database")


class PodmanDatabaseDriver(InstanceDriver):
    engine: ClassVar[str] = "postgres"
    container_port: ClassVar[int] = pg.CONTAINER_PORT
    stop_signal: ClassVar[str | None] = "SIGINT"  # PostgreSQL's fast shutdown

    def parse(self, inputs: Mapping[str, Any]) -> DatabaseSpec:
        return DatabaseSpec.model_validate(dict(inputs))

    def server(self, spec: InstanceSpec, password: str) -> tuple[str, list[str]]:
        assert isinstance(spec, DatabaseSpec)
        settings = {k: pg.setting_value(v) for k, v in spec.settings.items()}
        return pg.ENTRY_SCRIPT, pg.server_args(settings)

    def provision(self, podman: Podman, spec: InstanceSpec, inst: Instance,
                  deadline: float) -> None:
        assert isinstance(spec, DatabaseSpec)
        _wait_ready(podman, inst, deadline)
        verifier = pg.scram_verifier(inst.password)
        _psql(podman, inst.container, pg.setup_sql(spec.database, spec.owner, verifier),
              verifier)
        _wait_login(podman, spec, inst, deadline)

    def outputs(self, spec: InstanceSpec, inst: Instance) -> dict[str, Any]:
        assert isinstance(spec, DatabaseSpec)
        user, db, pw = spec.owner, spec.database, inst.password
        internal = spec.network is not None
        alias = inst.address.name
        return {
            "host": HOST, "port": inst.port, "user": user, "database": db, "password": pw,
            "url": pg.url(user, pw, HOST, inst.port, db), "container": inst.container,
            "volume": inst.volume, "internalHost": alias if internal else None,
            "internalPort": pg.CONTAINER_PORT,
            "internalUrl": pg.url(user, pw, alias, pg.CONTAINER_PORT, db) if internal else None,
        }


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


def _psql(podman: Podman, container: str, sql: str, verifier: str) -> None:
    """Run ``sql`` as the superuser over the server's socket; the SQL goes in on stdin."""
    argv = [podman.settings.binary, *podman.settings.extra_args, "exec", "-i", "--user",
            "postgres", container, *pg.PSQL]
    done = run(argv, env=podman.env, timeout=60, input_text=sql)
    if done.returncode != 0:
        stderr = done.stderr.replace(verifier, "(sensitive)")
        raise classify_failure(argv[:8], stderr, f"creating the user and database in {container}")


def _wait_login(podman: Podman, spec: DatabaseSpec, inst: Instance, deadline: float) -> None:
    """Until the user logs in over TCP with the password, as a client will."""
    import psycopg

    while True:
        try:
            with psycopg.connect(host=HOST, port=inst.port, user=spec.owner,
                                 password=inst.password, dbname=spec.database,
                                 connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.Error as exc:
            error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        check_alive(podman, inst)
        if time.monotonic() > deadline:
            raise wait_failed(podman, inst.container,
                              f"logging in to {spec.database} on {HOST}:{inst.port} as "
                              f"{spec.owner} failed: {error}")
        time.sleep(POLL)


DATABASE_KIND = DatabaseKind()
