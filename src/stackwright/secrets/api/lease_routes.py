"""``sys/leases/``: look up, list, renew and revoke the leases of dynamic secrets."""

from __future__ import annotations

import re
from typing import Any

from stackwright.secrets.api.types import NO_CONTENT, ApiRequest, ApiResponse, LeaseInfo, Route
from stackwright.secrets.errors import InvalidRequestError, NotFoundError
from stackwright.secrets.store import Caller, SecretsStore
from stackwright.secrets.timeutil import now_us, parse_duration


def _lease_id(req: ApiRequest, m: re.Match[str]) -> str:
    from_path = m.groupdict().get("lease_id")
    lease_id = from_path or req.field("lease_id", str) or req.field("url_lease_id", str)
    if not lease_id:
        raise InvalidRequestError("lease_id: required", hint='send {"lease_id": "..."}')
    return str(lease_id).strip("/")


def _lookup(
    store: SecretsStore, req: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    lease = store.leases.get(_lease_id(req, m))
    return ApiResponse(data=lease.to_lookup_json(now_us()))


def _list(store: SecretsStore, _r: ApiRequest, _c: Caller | None, m: re.Match[str]) -> ApiResponse:
    keys = store.leases.children(m.groupdict().get("prefix") or "")
    if not keys:
        raise NotFoundError()
    return ApiResponse(data={"keys": keys})


def _renew(
    store: SecretsStore, req: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    increment = parse_duration(req.body.get("increment"), "increment")
    lease, warnings = store.leases.renew(_lease_id(req, m), increment)
    info = LeaseInfo(lease.lease_id, lease.ttl(now_us()), lease.renewable)
    return ApiResponse(lease=info, warnings=tuple(warnings))


def _revoke(
    store: SecretsStore, req: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    store.leases.revoke(_lease_id(req, m))
    return NO_CONTENT


def _revoke_prefix(
    store: SecretsStore, _r: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    store.leases.revoke_prefix(m["prefix"])
    return NO_CONTENT


def _revoke_force(
    store: SecretsStore, _r: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    store.leases.revoke_prefix(m["prefix"], force=True)
    return NO_CONTENT


def lease_routes() -> list[Route]:
    def route(pattern: str, *, sudo: bool = False, **handlers: Any) -> Route:
        return Route(re.compile(rf"sys/leases/{pattern}"), handlers, sudo=sudo)

    return [
        route("lookup", update=_lookup),
        route("lookup(?:/(?P<prefix>.*))?", sudo=True, list=_list),
        route("renew(?:/(?P<lease_id>.+))?", update=_renew),
        route("revoke(?:/(?P<lease_id>.+))?", update=_revoke),
        route("revoke-prefix/(?P<prefix>.+)", sudo=True, update=_revoke_prefix),
        route("revoke-force/(?P<prefix>.+)", sudo=True, update=_revoke_force),
    ]
