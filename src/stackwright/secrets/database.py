"""The database secrets engine (PostgreSQL only): connections, roles and dynamic credentials.

As Vault's ``database/`` mount::

    database/config/pg      plugin_name=postgresql-database-plugin
                            connection_url=postgresql://{{username}}:{{password}}@db:5432/app
                            username=vault password=... allowed_roles=readonly
    database/roles/readonly db_name=pg default_ttl=1h max_ttl=24h
                            creation_statements="CREATE ROLE \\"{{name}}\\" WITH LOGIN
                              PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';
                              GRANT SELECT ON ALL TABLES IN SCHEMA public TO \\"{{name}}\\";"
    database/creds/readonly -> username, password, and a lease that drops the user

Configs and roles are stored sealed through the barrier (a config holds the root password,
which is never returned on read). A lease holds only the user name: the generated password
is handed out once and stored nowhere.
"""

from __future__ import annotations

import json
import secrets as _random
import string
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from stackwright.secrets import dbplugin
from stackwright.secrets.barrier import Barrier
from stackwright.secrets.errors import BackendError, InvalidRequestError, NotFoundError
from stackwright.secrets.leases import Lease, LeaseManager, LeaseRequest
from stackwright.secrets.postgres import Connection, PostgresPlugin
from stackwright.secrets.schema import db_configs, db_roles
from stackwright.secrets.timeutil import now_us

BACKEND = "database"
_ALNUM = string.ascii_letters + string.digits


@dataclass(frozen=True)
class ConnectionConfig:
    name: str
    connection_url: str = field(repr=False)
    username: str = ""
    password: str = field(default="", repr=False)
    allowed_roles: tuple[str, ...] = ()
    verify_connection: bool = True
    root_rotation_statements: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    plugin_name: str = dbplugin.PLUGIN_NAME

    def connection(self) -> Connection:
        return Connection(self.name, self.connection_url, self.username, self.password)

    def to_json(self) -> dict[str, Any]:
        """What ``read`` shows: never the password; a password written into the URL masked."""
        details = {
            "connection_url": dbplugin.masked_url(self.connection_url),
            "username": self.username,
            **self.options,
        }
        return {
            "allowed_roles": list(self.allowed_roles),
            "connection_details": details,
            "password_policy": "",
            "plugin_name": self.plugin_name,
            "plugin_version": "",
            "root_credentials_rotate_statements": list(self.root_rotation_statements),
            "verify_connection": self.verify_connection,
        }


@dataclass(frozen=True)
class DbRole:
    name: str
    db_name: str
    creation_statements: tuple[str, ...]
    revocation_statements: tuple[str, ...] = ()
    rollback_statements: tuple[str, ...] = ()
    renew_statements: tuple[str, ...] = ()
    default_ttl: int = 0
    max_ttl: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "db_name": self.db_name,
            "creation_statements": list(self.creation_statements),
            "revocation_statements": list(self.revocation_statements),
            "rollback_statements": list(self.rollback_statements),
            "renew_statements": list(self.renew_statements),
            "default_ttl": self.default_ttl,
            "max_ttl": self.max_ttl,
            "credential_type": "password",
            "credential_config": None,
        }


@dataclass(frozen=True)
class Requester:
    """Who asks for credentials: names the user and bounds the lease."""

    display_name: str
    token_hash: str | None = None
    token_expire_us: int = 0


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    lease: Lease


class DatabaseEngine:
    """One ``database/`` mount; also the lease backend that renews and drops its users."""

    def __init__(
        self,
        engine: Engine,
        barrier: Barrier,
        leases: LeaseManager,
        *,
        mount: str = "database",
        plugin: PostgresPlugin | None = None,
    ) -> None:
        self._engine = engine
        self._barrier = barrier
        self._leases = leases
        self.mount = mount
        self._plugin = plugin or PostgresPlugin()

    # -- connection configs ---------------------------------------------------------------
    def write_config(self, config: ConnectionConfig) -> None:
        """Store a config, after checking it can connect unless ``verify_connection`` is off."""
        dbplugin.validate_name(config.name, "connection")
        dbplugin.normalize_url(config.connection_url)
        if config.verify_connection:
            try:
                self._plugin.verify(config.connection())
            except BackendError as exc:
                raise InvalidRequestError(f"error creating database object: {exc.message}") from exc
        self._put(db_configs, config.name, _config_json(config))

    def config(self, name: str) -> ConnectionConfig | None:
        raw = self._get(db_configs, name)
        return None if raw is None else _config_from(raw)

    def require_config(self, name: str) -> ConnectionConfig:
        config = self.config(name)
        if config is None:
            raise NotFoundError()
        return config

    def config_names(self) -> list[str]:
        return self._names(db_configs)

    def delete_config(self, name: str) -> None:
        self._delete(db_configs, name)

    def rotate_root(self, name: str) -> None:
        """A new root password, set in PostgreSQL first, then stored."""
        config = self.require_config(name)
        if not config.username or not config.password:
            raise InvalidRequestError(
                "rotate-root needs the username and password fields of the connection",
                hint=f"write them to {self.mount}/config/{name}",
            )
        password = dbplugin.generate_password()
        self._plugin.rotate_root(config.connection(), config.root_rotation_statements, password)
        self._put(db_configs, name, _config_json(replace(config, password=password)))

    # -- roles ----------------------------------------------------------------------------
    def write_role(self, role: DbRole) -> None:
        dbplugin.validate_name(role.name, "role")
        if not role.creation_statements:
            raise InvalidRequestError("creation_statements: empty creation statements")
        if role.max_ttl and role.default_ttl > role.max_ttl:
            raise InvalidRequestError("default_ttl cannot be greater than max_ttl")
        self._put(db_roles, role.name, asdict(role))

    def role(self, name: str) -> DbRole | None:
        raw = self._get(db_roles, name)
        return None if raw is None else _role_from(raw)

    def role_names(self) -> list[str]:
        return self._names(db_roles)

    def delete_role(self, name: str) -> None:
        self._delete(db_roles, name)

    # -- credentials ----------------------------------------------------------------------
    def creds(self, role_name: str, requester: Requester) -> Credentials:
        """A new PostgreSQL user for ``role_name`` with a lease that revokes it."""
        role = self.role(role_name)
        if role is None:
            raise InvalidRequestError(f"unknown role: {role_name}")
        config = self._config_for(role)
        username = dbplugin.generate_username(requester.display_name, role.name)
        password = dbplugin.generate_password()
        lease = self._leases.create(
            LeaseRequest(
                lease_id=f"{self.mount}/creds/{role.name}/{_lease_suffix()}",
                backend=BACKEND,
                internal={"db_name": config.name, "role": role.name, "username": username},
                ttl=role.default_ttl,
                max_ttl=role.max_ttl,
                token_hash=requester.token_hash,
                cap_us=requester.token_expire_us,
            )
        )
        try:
            self._plugin.create_user(
                config.connection(), role.creation_statements, username, password, lease.expire_us
            )
        except BaseException:
            self._leases.discard(lease.lease_id)  # the transaction rolled the user back
            raise
        return Credentials(username, password, lease)

    def _config_for(self, role: DbRole) -> ConnectionConfig:
        config = self.config(role.db_name)
        if config is None:
            raise InvalidRequestError(
                f"role {role.name}: no database connection {role.db_name!r}",
                hint=f"write {self.mount}/config/{role.db_name} first",
            )
        if not dbplugin.role_allowed(role.name, config.allowed_roles):
            raise InvalidRequestError(
                f'"{role.name}" is not an allowed role',
                hint=f"add it to allowed_roles of {self.mount}/config/{config.name}",
            )
        return config

    # -- the lease backend ----------------------------------------------------------------
    def renew_lease(self, internal: Mapping[str, Any], expire_us: int) -> None:
        config = self._lease_config(internal)
        role = self.role(str(internal["role"]))
        statements = role.renew_statements if role else ()
        self._plugin.renew_user(config.connection(), statements, internal["username"], expire_us)

    def revoke_lease(self, internal: Mapping[str, Any]) -> None:
        config = self._lease_config(internal)
        role = self.role(str(internal["role"]))  # a deleted role revokes with the defaults
        statements = role.revocation_statements if role else ()
        self._plugin.revoke_user(config.connection(), statements, internal["username"])

    def _lease_config(self, internal: Mapping[str, Any]) -> ConnectionConfig:
        config = self.config(str(internal["db_name"]))
        if config is None:
            raise BackendError(
                f"database connection {internal['db_name']!r} no longer exists",
                hint=f"write {self.mount}/config/{internal['db_name']} again to revoke its users",
            )
        return config

    # -- storage --------------------------------------------------------------------------
    def _aad(self, table: sa.Table, name: str) -> str:
        return f"{table.name}/{self.mount}/{name}"

    def _put(self, table: sa.Table, name: str, record: Mapping[str, Any]) -> None:
        sealed = self._barrier.encrypt(json.dumps(record).encode(), self._aad(table, name))
        key = (table.c.mount == self.mount) & (table.c.name == name)
        with self._engine.begin() as conn:
            conn.execute(sa.delete(table).where(key))
            conn.execute(
                sa.insert(table).values(
                    mount=self.mount, name=name, record_ct=sealed, updated_us=now_us()
                )
            )

    def _get(self, table: sa.Table, name: str) -> dict[str, Any] | None:
        key = (table.c.mount == self.mount) & (table.c.name == name)
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(table.c.record_ct).where(key)).first()
        if row is None:
            return None
        loaded: dict[str, Any] = json.loads(
            self._barrier.decrypt(row.record_ct, self._aad(table, name))
        )
        return loaded

    def _names(self, table: sa.Table) -> list[str]:
        with self._engine.connect() as conn:
            found = conn.execute(sa.select(table.c.name).where(table.c.mount == self.mount))
            return sorted(str(n) for n in found.scalars())

    def _delete(self, table: sa.Table, name: str) -> None:
        key = (table.c.mount == self.mount) & (table.c.name == name)
        with self._engine.begin() as conn:
            conn.execute(sa.delete(table).where(key))


def _lease_suffix() -> str:
    return "".join(_random.choice(_ALNUM) for _ in range(24))


def _config_json(config: ConnectionConfig) -> dict[str, Any]:
    return {**asdict(config), "options": dict(config.options)}


def _config_from(raw: Mapping[str, Any]) -> ConnectionConfig:
    return ConnectionConfig(
        **{
            **raw,
            "allowed_roles": tuple(raw["allowed_roles"]),
            "root_rotation_statements": tuple(raw["root_rotation_statements"]),
        }
    )


def _role_from(raw: Mapping[str, Any]) -> DbRole:
    lists = ("creation_statements", "revocation_statements", "rollback_statements")
    fixed = {k: tuple(raw[k]) for k in (*lists, "renew_statements")}
    return DbRole(**{**raw, **fixed})
