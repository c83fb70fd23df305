"""``auth/token/``: create, lookup, renew and revoke tokens."""

from __future__ import annotations

import re
from typing import Any

from stackwright.secrets.api.types import NO_CONTENT, ApiRequest, ApiResponse, Route
from stackwright.secrets.errors import InvalidRequestError, PermissionDeniedError
from stackwright.secrets.store import Caller, SecretsStore
from stackwright.secrets.timeutil import now_us, parse_duration, rfc3339
from stackwright.secrets.tokens import TokenEntry, TokenRequest


def _caller(caller: Caller | None) -> Caller:
    if caller is None:
        raise PermissionDeniedError()
    return caller


def _auth_block(entry: TokenEntry) -> dict[str, Any]:
    record = entry.record
    return {
        "client_token": entry.token,
        "accessor": record.accessor,
        "policies": list(record.policies),
        "token_policies": list(record.policies),
        "identity_policies": None,
        "metadata": record.meta or None,
        "lease_duration": record.ttl(now_us()),
        "renewable": record.renewable,
        "entity_id": "",
        "token_type": "service",
        "orphan": entry.parent_hash is None,
        "mfa_requirement": None,
        "num_uses": record.num_uses,
    }


def _lookup_data(entry: TokenEntry, *, with_id: bool = True) -> dict[str, Any]:
    record = entry.record
    return {
        "accessor": record.accessor,
        "creation_time": record.creation_us // 1_000_000,
        "creation_ttl": record.creation_ttl,
        "display_name": record.display_name,
        "entity_id": "",
        "expire_time": rfc3339(record.expire_us) or None,
        "explicit_max_ttl": record.explicit_max_ttl,
        "id": entry.token if with_id else "",
        "issue_time": rfc3339(record.creation_us),
        "meta": record.meta or None,
        "num_uses": record.num_uses,
        "orphan": entry.parent_hash is None,
        "path": record.path,
        "policies": list(record.policies),
        "renewable": record.renewable,
        "ttl": record.ttl(now_us()),
        "type": "service",
    }


def _token_request(req: ApiRequest, caller: Caller) -> TokenRequest:
    if req.body.get("id"):
        raise InvalidRequestError("custom token ids are not supported")
    no_parent = bool(req.field("no_parent", bool, False))
    if no_parent and not caller.entry.record.root:
        raise PermissionDeniedError("root or sudo privileges required to create orphan token")
    policies = req.field("policies", list) or []
    meta = req.field("meta", dict) or {}
    if not all(isinstance(p, str) for p in policies):
        raise InvalidRequestError("policies: expected a list of strings")
    if not all(isinstance(v, str) for v in meta.values()):
        raise InvalidRequestError("meta: values must be strings")
    return TokenRequest(
        policies=tuple(p.strip().lower() for p in policies if p.strip()),
        ttl=parse_duration(req.body.get("ttl"), "ttl"),
        explicit_max_ttl=parse_duration(req.body.get("explicit_max_ttl"), "explicit_max_ttl"),
        renewable=bool(req.field("renewable", bool, True)),
        num_uses=int(req.field("num_uses", int, 0)),
        display_name=str(req.field("display_name", str, "") or "token"),
        meta=dict(meta),
        no_default_policy=bool(req.field("no_default_policy", bool, False)),
        no_parent=no_parent,
    )


def _create(
    store: SecretsStore, req: ApiRequest, caller: Caller | None, _m: re.Match[str]
) -> ApiResponse:
    parent = _caller(caller)
    entry = store.tokens.create(parent.entry, _token_request(req, parent))
    return ApiResponse(auth=_auth_block(entry))


def _lookup_self(
    _s: SecretsStore, _r: ApiRequest, caller: Caller | None, _m: re.Match[str]
) -> ApiResponse:
    return ApiResponse(data=_lookup_data(_caller(caller).entry))


def _lookup(
    store: SecretsStore, req: ApiRequest, _c: Caller | None, _m: re.Match[str]
) -> ApiResponse:
    token = req.field("token", str)
    if not token:
        raise InvalidRequestError("missing token to look up")
    try:
        entry = store.tokens.lookup(token)
    except PermissionDeniedError as exc:
        raise InvalidRequestError("bad token") from exc
    return ApiResponse(data=_lookup_data(entry))


def _renew_self(
    store: SecretsStore, req: ApiRequest, caller: Caller | None, _m: re.Match[str]
) -> ApiResponse:
    increment = parse_duration(req.body.get("increment"), "increment")
    entry = store.tokens.renew(_caller(caller).entry, increment)
    return ApiResponse(auth=_auth_block(entry))


def _revoke_self(
    store: SecretsStore, _r: ApiRequest, caller: Caller | None, _m: re.Match[str]
) -> ApiResponse:
    store.tokens.revoke(_caller(caller).entry)
    return NO_CONTENT


def _revoke(
    store: SecretsStore, req: ApiRequest, _c: Caller | None, _m: re.Match[str]
) -> ApiResponse:
    token = req.field("token", str)
    if not token:
        raise InvalidRequestError("missing token to revoke")
    store.tokens.revoke_token(token)
    return NO_CONTENT


def _lookup_accessor(
    store: SecretsStore, req: ApiRequest, _c: Caller | None, _m: re.Match[str]
) -> ApiResponse:
    entry = store.tokens.by_accessor(str(req.field("accessor", str, "")))
    return ApiResponse(data=_lookup_data(entry, with_id=False))


def _revoke_accessor(
    store: SecretsStore, req: ApiRequest, _c: Caller | None, _m: re.Match[str]
) -> ApiResponse:
    store.tokens.revoke(store.tokens.by_accessor(str(req.field("accessor", str, ""))))
    return NO_CONTENT


def token_routes() -> list[Route]:
    def route(name: str, **handlers: Any) -> Route:
        return Route(re.compile(rf"auth/token/{name}"), handlers)

    return [
        route("create", update=_create),
        route("lookup-self", read=_lookup_self),
        route("lookup", update=_lookup),
        route("renew-self", update=_renew_self),
        route("revoke-self", update=_revoke_self),
        route("revoke", update=_revoke),
        route("lookup-accessor", update=_lookup_accessor),
        route("revoke-accessor", update=_revoke_accessor),
    ]
