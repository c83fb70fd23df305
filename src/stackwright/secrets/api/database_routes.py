"""``database/``: connection configs, roles, dynamic credentials, root rotation."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from stackwright.secrets import dbplugin
from stackwright.secrets.api.types import NO_CONTENT, ApiRequest, ApiResponse, LeaseInfo, Route
from stackwright.secrets.database import ConnectionConfig, DbRole, Requester
from stackwright.secrets.errors import InvalidRequestError, NotFoundError, PermissionDeniedError
from stackwright.secrets.store import Caller, SecretsStore
from stackwright.secrets.timeutil import now_us, parse_duration

_KNOWN_OPTIONS = ("max_open_connections", "max_idle_connections", "max_connection_lifetime")
_UNSUPPORTED = (
    "username_template",
    "password_policy",
    "private_key",
    "tls_certificate",
    "tls_ca",
    "plugin_version",
)
_CONFIG_FIELDS = frozenset(
    {
        "plugin_name",
        "connection_url",
        "username",
        "password",
        "allowed_roles",
        "verify_connection",
        "root_rotation_statements",
        *_KNOWN_OPTIONS,
        "disable_escaping",
        "password_authentication",
    }
)


def _allowed_roles(value: object) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(r, str) for r in items):
        raise InvalidRequestError("allowed_roles: expected a list or a comma-separated string")
    return tuple(r.strip() for r in items if r.strip())


def _refuse_unsupported(req: ApiRequest) -> None:
    for name in _UNSUPPORTED:
        if req.body.get(name) not in (None, ""):
            raise InvalidRequestError(
                f"{name} is not supported", hint="Stackwright's PostgreSQL plugin uses defaults"
            )
    if req.body.get("password_authentication") not in (None, "", "password"):
        raise InvalidRequestError("password_authentication: only 'password' is supported")
    if req.body.get("disable_escaping"):
        raise InvalidRequestError("disable_escaping is not supported")


def _new_config(req: ApiRequest, name: str) -> ConnectionConfig:
    url = req.field("connection_url", str)
    if not url:
        raise InvalidRequestError("connection_url: required", hint="a postgresql:// URL")
    return ConnectionConfig(name=name, connection_url=url)


def _config_update(req: ApiRequest, old: ConnectionConfig | None, name: str) -> ConnectionConfig:
    _refuse_unsupported(req)
    plugin = req.field("plugin_name", str) or (old.plugin_name if old else "")
    if plugin != dbplugin.PLUGIN_NAME:
        raise InvalidRequestError(
            f"plugin_name: {plugin!r} is not supported" if plugin else "plugin_name: required",
            hint=f"the one plugin is {dbplugin.PLUGIN_NAME}",
        )
    config = old or _new_config(req, name)
    changes: dict[str, Any] = {}
    for key in ("connection_url", "username", "password"):
        if req.field(key, str) is not None:
            changes[key] = req.body[key]
    if "allowed_roles" in req.body:
        changes["allowed_roles"] = _allowed_roles(req.body["allowed_roles"])
    if "root_rotation_statements" in req.body:
        changes["root_rotation_statements"] = dbplugin.statement_list(
            req.body["root_rotation_statements"], "root_rotation_statements"
        )
    changes["verify_connection"] = bool(req.field("verify_connection", bool, True))
    options = {k: req.body[k] for k in _KNOWN_OPTIONS if k in req.body}
    changes["options"] = {**config.options, **options}
    return replace(config, **changes)


def _warnings(req: ApiRequest) -> tuple[str, ...]:
    unknown = sorted(set(req.body) - _CONFIG_FIELDS)
    if not unknown:
        return ()
    return (f"Endpoint ignored these unrecognized parameters: {unknown}",)


def _write_config(
    store: SecretsStore, req: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    name = m["name"]
    config = _config_update(req, store.databases.config(name), name)
    store.databases.write_config(config)
    warnings = _warnings(req)
    return ApiResponse(data={}, warnings=warnings) if warnings else NO_CONTENT


def _read_config(
    store: SecretsStore, _r: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    return ApiResponse(data=store.databases.require_config(m["name"]).to_json())


def _delete_config(
    store: SecretsStore, _r: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    store.databases.delete_config(m["name"])
    return NO_CONTENT


def _keys(names: list[str]) -> ApiResponse:
    if not names:
        raise NotFoundError()
    return ApiResponse(data={"keys": names})


def _list_configs(
    store: SecretsStore, _r: ApiRequest, _c: Caller | None, _m: re.Match[str]
) -> ApiResponse:
    return _keys(store.databases.config_names())


def _rotate_root(
    store: SecretsStore, _r: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    store.databases.rotate_root(m["name"])
    return NO_CONTENT


def _reset(
    store: SecretsStore, _r: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    store.databases.require_config(m["name"])  # no pooled connections to close
    return NO_CONTENT


def _role_update(req: ApiRequest, old: DbRole | None, name: str) -> DbRole:
    db_name = req.field("db_name", str) or (old.db_name if old else "")
    if not db_name:
        raise InvalidRequestError("db_name: required", hint="the name of a database/config")
    role = old or DbRole(name=name, db_name=db_name, creation_statements=())
    changes: dict[str, Any] = {"db_name": db_name}
    for key in (
        "creation_statements",
        "revocation_statements",
        "rollback_statements",
        "renew_statements",
    ):
        if key in req.body:
            changes[key] = dbplugin.statement_list(req.body[key], key)
    for key in ("default_ttl", "max_ttl"):
        if key in req.body:
            changes[key] = parse_duration(req.body[key], key)
    return replace(role, **changes)


def _write_role(
    store: SecretsStore, req: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    name = m["name"]
    store.databases.write_role(_role_update(req, store.databases.role(name), name))
    return NO_CONTENT


def _read_role(
    store: SecretsStore, _r: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    role = store.databases.role(m["name"])
    if role is None:
        raise NotFoundError()
    return ApiResponse(data=role.to_json())


def _delete_role(
    store: SecretsStore, _r: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    store.databases.delete_role(m["name"])
    return NO_CONTENT


def _list_roles(
    store: SecretsStore, _r: ApiRequest, _c: Caller | None, _m: re.Match[str]
) -> ApiResponse:
    return _keys(store.databases.role_names())


def _creds(
    store: SecretsStore, req: ApiRequest, caller: Caller | None, m: re.Match[str]
) -> ApiResponse:
    if caller is None:
        raise PermissionDeniedError()
    if req.method == "HEAD":
        raise InvalidRequestError("HEAD would create credentials nobody receives; use GET")
    entry = caller.entry
    requester = Requester(
        display_name=entry.record.display_name,
        token_hash=entry.token_hash,
        token_expire_us=entry.record.expire_us,
    )
    creds = store.databases.creds(m["name"], requester)
    lease = creds.lease
    return ApiResponse(
        data={"username": creds.username, "password": creds.password},
        lease=LeaseInfo(lease.lease_id, lease.ttl(now_us()), lease.renewable),
    )


def _config_exists(store: SecretsStore, m: re.Match[str]) -> bool:
    return store.databases.config(m["name"]) is not None


def _role_exists(store: SecretsStore, m: re.Match[str]) -> bool:
    return store.databases.role(m["name"]) is not None


def database_routes(mount: str) -> list[Route]:
    base = re.escape(mount)

    def route(pattern: str, **handlers: Any) -> Route:
        return Route(re.compile(rf"{base}/{pattern}"), handlers)

    return [
        route("config", list=_list_configs),
        Route(
            re.compile(rf"{base}/config/(?P<name>[^/]+)"),
            {"read": _read_config, "update": _write_config, "delete": _delete_config},
            existence=_config_exists,
        ),
        route("roles", list=_list_roles),
        Route(
            re.compile(rf"{base}/roles/(?P<name>[^/]+)"),
            {"read": _read_role, "update": _write_role, "delete": _delete_role},
            existence=_role_exists,
        ),
        route("creds/(?P<name>[^/]+)", read=_creds),
        route("rotate-root/(?P<name>[^/]+)", update=_rotate_root),
        route("reset/(?P<name>[^/]+)", update=_reset),
    ]
