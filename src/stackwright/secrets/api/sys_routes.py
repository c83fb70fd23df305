"""``sys/``: health, init, seal and unseal, ACL policies, audit hashes, capabilities."""

from __future__ import annotations

import re
import time
from typing import Any

from stackwright.secrets import crypto
from stackwright.secrets.api.types import NO_CONTENT, ApiRequest, ApiResponse, Route
from stackwright.secrets.errors import InvalidRequestError, NotFoundError, PermissionDeniedError
from stackwright.secrets.store import Caller, SecretsStore

CLUSTER_NAME = "stackwright"


def _health(
    store: SecretsStore, req: ApiRequest, _c: Caller | None, _m: re.Match[str]
) -> ApiResponse:
    status = store.status()
    body = {
        "initialized": status.initialized,
        "sealed": status.sealed,
        "standby": False,
        "performance_standby": False,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": int(time.time()),
        "version": "1.15.0+stackwright",
        "cluster_name": CLUSTER_NAME,
        "auto_unsealed": status.auto_unsealed,
    }
    if not status.initialized:
        code = _code(req, "uninitcode", 501)
    elif status.sealed:
        code = _code(req, "sealedcode", 503)
    else:
        code = _code(req, "activecode", 200)
    return ApiResponse(status=code, raw=body)


def _code(req: ApiRequest, name: str, default: int) -> int:
    value = req.params.get(name)
    if value is None:
        return default
    if not value.isdigit() or not 100 <= int(value) <= 599:
        raise InvalidRequestError(f"{name}: expected an HTTP status code")
    return int(value)


def _seal_status(store: SecretsStore) -> dict[str, Any]:
    body = store.status().to_json()
    if not body["sealed"]:
        body |= {"cluster_name": CLUSTER_NAME, "cluster_id": ""}
    return body


def _get_seal_status(
    store: SecretsStore, _r: ApiRequest, _c: Caller | None, _m: re.Match[str]
) -> ApiResponse:
    return ApiResponse(raw=_seal_status(store))


def _init_status(
    store: SecretsStore, _r: ApiRequest, _c: Caller | None, _m: re.Match[str]
) -> ApiResponse:
    return ApiResponse(raw={"initialized": store.status().initialized})


def _init(
    store: SecretsStore, req: ApiRequest, _c: Caller | None, _m: re.Match[str]
) -> ApiResponse:
    for unsupported in ("pgp_keys", "root_token_pgp_key", "recovery_shares", "stored_shares"):
        if req.body.get(unsupported):
            raise InvalidRequestError(f"{unsupported} is not supported")
    shares = req.field("secret_shares", int)
    threshold = req.field("secret_threshold", int)
    if shares is None or threshold is None:
        raise InvalidRequestError("secret_shares and secret_threshold are required")
    return ApiResponse(raw=store.init(shares, threshold).to_http_json())


def _unseal(
    store: SecretsStore, req: ApiRequest, _c: Caller | None, _m: re.Match[str]
) -> ApiResponse:
    if req.field("reset", bool, False):
        store.reset_unseal()
        return ApiResponse(raw=_seal_status(store))
    key = req.field("key", str)
    if not key:
        raise InvalidRequestError(
            "'key' must be specified in request body as JSON, or 'reset' set to true"
        )
    if store.status().sealed:
        store.unseal(key)
    return ApiResponse(raw=_seal_status(store))


def _seal(store: SecretsStore, _r: ApiRequest, _c: Caller | None, _m: re.Match[str]) -> ApiResponse:
    store.seal()
    return NO_CONTENT


def _list_policies(
    store: SecretsStore, _r: ApiRequest, _c: Caller | None, _m: re.Match[str]
) -> ApiResponse:
    names = store.policies.names()
    return ApiResponse(data={"keys": names, "policies": names})


def _read_policy(
    store: SecretsStore, _r: ApiRequest, _c: Caller | None, match: re.Match[str]
) -> ApiResponse:
    policy = store.policies.get(match["name"])
    return ApiResponse(data={"name": policy.name, "policy": policy.text})


def _write_policy(
    store: SecretsStore, req: ApiRequest, _c: Caller | None, match: re.Match[str]
) -> ApiResponse:
    text = req.field("policy", str)
    if text is None:
        raise InvalidRequestError("'policy' parameter not supplied or empty")
    store.policies.put(match["name"], text)
    return NO_CONTENT


def _delete_policy(
    store: SecretsStore, _r: ApiRequest, _c: Caller | None, match: re.Match[str]
) -> ApiResponse:
    store.policies.delete(match["name"])
    return NO_CONTENT


def _policy_exists(store: SecretsStore, match: re.Match[str]) -> bool:
    try:
        store.policies.get(match["name"])
    except NotFoundError:
        return False
    return True


def _audit_hash(
    store: SecretsStore, req: ApiRequest, _c: Caller | None, _m: re.Match[str]
) -> ApiResponse:
    value = req.field("input", str)
    key = store.audit_key()
    if value is None or key is None:
        raise InvalidRequestError("'input' is required")
    return ApiResponse(data={"hash": "hmac-sha256:" + crypto.hmac_hex(key, value)})


def _capabilities_self(
    _s: SecretsStore, req: ApiRequest, caller: Caller | None, _m: re.Match[str]
) -> ApiResponse:
    if caller is None:
        raise PermissionDeniedError()
    paths = req.field("paths", list) or ([req.field("path", str)] if req.body.get("path") else [])
    if not paths or not all(isinstance(p, str) for p in paths):
        raise InvalidRequestError("'paths' must be a list of paths")
    if caller.acl.root:
        found = {p: ["root"] for p in paths}
    else:
        found = {p: sorted(caller.acl.capabilities(p.strip("/"))) or ["deny"] for p in paths}
    capabilities = found[paths[0]] if len(paths) == 1 else None
    return ApiResponse(data={**found, "capabilities": capabilities})


def sys_routes() -> list[Route]:
    return [
        Route(
            re.compile(r"sys/health"),
            {"read": _health},
            unauthenticated=True,
            sealed_ok=True,
            audited=False,
        ),
        Route(
            re.compile(r"sys/seal-status"),
            {"read": _get_seal_status},
            unauthenticated=True,
            sealed_ok=True,
        ),
        Route(
            re.compile(r"sys/init"),
            {"read": _init_status, "update": _init},
            unauthenticated=True,
            sealed_ok=True,
        ),
        Route(re.compile(r"sys/unseal"), {"update": _unseal}, unauthenticated=True, sealed_ok=True),
        Route(re.compile(r"sys/seal"), {"update": _seal}, sudo=True),
        Route(re.compile(r"sys/policies/acl"), {"list": _list_policies}),
        Route(
            re.compile(r"sys/policies/acl/(?P<name>[^/]+)"),
            {"read": _read_policy, "update": _write_policy, "delete": _delete_policy},
            existence=_policy_exists,
        ),
        Route(re.compile(r"sys/audit-hash/(?P<name>[^/]+)"), {"update": _audit_hash}, sudo=True),
        Route(re.compile(r"sys/capabilities-self"), {"update": _capabilities_self}),
    ]
