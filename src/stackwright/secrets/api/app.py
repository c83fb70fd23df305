"""The Vault-compatible HTTP API: ``create_vault_app(store)``.

One catch-all route under ``/v1/`` hands requests to :func:`dispatch`, which finds the route,
refuses while sealed, authenticates, audits the request, checks the ACL, runs the handler
and audits the response, in that order. A request whose audit entry cannot be written fails
with 500. The ``LIST`` method needs an HTTP parser that accepts it: run uvicorn with
``http="h11"`` (httptools rejects unknown methods).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from stackwright.secrets.api.database_routes import database_routes
from stackwright.secrets.api.kv_routes import kv_routes
from stackwright.secrets.api.lease_routes import lease_routes
from stackwright.secrets.api.sys_routes import sys_routes
from stackwright.secrets.api.token_routes import token_routes
from stackwright.secrets.api.types import ApiRequest, ApiResponse, Route
from stackwright.secrets.audit import hmac_values
from stackwright.secrets.errors import (
    AuditWriteError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    SealedError,
    VaultError,
)
from stackwright.secrets.groupcommit import audit_first
from stackwright.secrets.store import Caller, SecretsStore

log = logging.getLogger(__name__)

METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "LIST"]
_OPERATIONS = {
    "GET": "read",
    "HEAD": "read",
    "PUT": "update",
    "POST": "update",
    "DELETE": "delete",
    "PATCH": "patch",
    "LIST": "list",
}


def create_vault_app(store: SecretsStore) -> FastAPI:
    """A FastAPI app serving ``store`` under ``/v1/``, as Vault's HTTP API does."""
    app = FastAPI(title="Stackwright secrets (Vault-compatible)", docs_url=None, redoc_url=None)
    settings = store.settings
    routes = [
        *sys_routes(),
        *lease_routes(),
        *token_routes(),
        *kv_routes(settings.mount),
        *database_routes(settings.database_mount),
    ]

    # writes block (their commit, their audit fsyncs) in a pool of their own, entered with
    # one hand-off (anyio's run_in_threadpool adds a capacity limiter and task lookups)
    workers = ThreadPoolExecutor(max_workers=40, thread_name_prefix="secrets-api")

    @app.api_route("/v1/{path:path}", methods=METHODS)
    async def vault(path: str, request: Request) -> Response:
        raw = await request.body()
        api_request = _api_request(request, path, raw)
        if isinstance(api_request, ApiResponse):
            return _render(api_request, "")
        found = _lookup(routes, api_request)
        if _inline(store, found, api_request):
            response = await dispatch_async(store, found, api_request)
        else:
            loop = asyncio.get_running_loop()
            response = await loop.run_in_executor(workers, dispatch, store, found, api_request)
        return _render(response, api_request.request_id)

    app.router.on_shutdown.append(lambda: workers.shutdown(wait=False))
    return app


def _api_request(request: Request, path: str, raw: bytes) -> ApiRequest | ApiResponse:
    method = request.method.upper()
    operation = _OPERATIONS[method]
    if method == "GET" and request.query_params.get("list") in ("true", "1"):
        operation = "list"
    body: Any = {}
    if raw.strip() and method not in ("GET", "HEAD"):
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(InvalidRequestError("failed to parse JSON input"))
        if not isinstance(body, dict):
            return _error(InvalidRequestError("the request body must be a JSON object"))
    return ApiRequest(
        method=method,
        operation=operation,
        path=path.strip("/"),
        params=dict(request.query_params),
        body=body,
        token=_token(request),
        remote=request.client.host if request.client else "",
        request_id=str(uuid.uuid4()),
    )


def _token(request: Request) -> str:
    token = request.headers.get("x-vault-token", "")
    auth = request.headers.get("authorization", "")
    if not token and auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    return token


_Found = tuple[Route, re.Match[str]] | VaultError  # the route of a request, or why none


def _lookup(routes: list[Route], req: ApiRequest) -> _Found:
    """The route of ``req``, looked up once per request."""
    try:
        return _find(routes, req)
    except VaultError as exc:
        return exc


def _inline(store: SecretsStore, found: _Found, req: ApiRequest) -> bool:
    """Whether the request may run on the event loop: a read of a route marked inline, by a
    token in the cache (so no blocking work beyond a short local query; its audit fsync is
    awaited, not blocked on). Everything else runs in a worker thread."""
    if req.operation not in ("read", "list") or isinstance(found, VaultError):
        return False
    return found[0].inline and store.tokens.cached(req.token)


def dispatch(store: SecretsStore, found: _Found, req: ApiRequest) -> ApiResponse:
    """Serve one request, blocking until its audit trail is durable (in a worker thread)."""
    try:
        with store.audit.in_flight():
            response, ticket = _dispatch(store, found, req)
            store.audit.sync(ticket)
            return response
    except AuditWriteError as exc:
        return _audit_failed(req, exc)


async def dispatch_async(store: SecretsStore, found: _Found, req: ApiRequest) -> ApiResponse:
    """``dispatch`` on the event loop: one fsync in place covers the requests of one turn of
    the loop, and an fsync already running is awaited without blocking it."""
    try:
        with store.audit.in_flight():
            response, ticket = _dispatch(store, found, req)
            await store.audit.durable(ticket)
            return response
    except AuditWriteError as exc:
        return _audit_failed(req, exc)


def _audit_failed(req: ApiRequest, exc: AuditWriteError) -> ApiResponse:
    log.error("audit write failed, request %s refused: %s", req.request_id, exc)
    return ApiResponse(status=500, errors=("internal error: the audit log could not be written",))


def _dispatch(store: SecretsStore, found: _Found, req: ApiRequest) -> tuple[ApiResponse, int]:
    """The response and the audit ticket that must be durable before it is sent (0: none)."""
    caller: Caller | None = None
    try:
        if isinstance(found, VaultError):
            raise found
        route, match = found
        if not route.sealed_ok and store.barrier.sealed:
            raise SealedError()
        if not route.unauthenticated:
            caller = store.authenticate(req.token)
    except VaultError as exc:
        failed = _error(exc)
        base = _audit_base(store, req, caller, False)
        _audit(store, base, None, error=exc)
        return failed, _audit(store, base, failed)
    if not route.audited:
        return _run(store, route, match, req, caller), 0
    base = _audit_base(store, req, caller, _at_commit(store, route, caller))
    ticket = _audit(store, base, None)
    with audit_first(ticket if base.at_commit else 0):
        response = _run(store, route, match, req, caller)
    return response, _audit(store, base, response)


def _at_commit(store: SecretsStore, route: Route, caller: Caller | None) -> bool:
    """Whether the request line of a change may wait for the change's commit to become
    durable (the KV group commit does it then, one fsync for all its changes) rather than
    before the handler runs: only if nothing else is changed before, as a limited-use
    token's count is, and not with ``fsync: always`` (every durable line its own fsync)."""
    if not route.audit_at_commit or store.audit.sink.mode == "always":
        return False
    return caller is None or caller.entry.record.num_uses <= 0


def _find(routes: list[Route], req: ApiRequest) -> tuple[Route, re.Match[str]]:
    """The first route whose pattern matches and that handles the operation (one path may
    have several routes, e.g. a sudo-only LIST next to an ordinary update)."""
    matched = False
    for route in routes:
        match = route.pattern.fullmatch(req.path)
        if match is not None:
            matched = True
            if route.handler(req.operation) is not None:
                return route, match
    if matched:
        raise _MethodNotAllowed()
    raise NotFoundError(f"no handler for route {req.path!r}")


class _MethodNotAllowed(VaultError):
    status = 405

    def __init__(self) -> None:
        super().__init__("unsupported operation")


def _run(
    store: SecretsStore, route: Route, match: re.Match[str], req: ApiRequest, caller: Caller | None
) -> ApiResponse:
    try:
        if caller is not None:
            _authorize(store, route, match, req, caller)
            store.tokens.use(caller.entry)
        handler = route.handler(req.operation)
        assert handler is not None  # _find checked it
        return handler(store, req, caller, match)
    except VaultError as exc:
        return _error(exc)
    except Exception:  # a bug must not leak details, but must be logged
        log.exception("request %s to %s failed", req.request_id, req.path)
        return ApiResponse(status=500, errors=("internal error",))


def _authorize(
    store: SecretsStore, route: Route, match: re.Match[str], req: ApiRequest, caller: Caller
) -> None:
    capability = req.operation
    if capability == "update" and route.existence is not None:
        granted = caller.acl.capabilities(req.path)
        if "create" in granted and "update" in granted:  # either way: no query needed
            return _authorize_granted(granted, route)
        capability = "update" if route.existence(store, match) else "create"
    if not caller.acl.allows(req.path, capability, sudo=route.sudo):
        raise PermissionDeniedError()


def _authorize_granted(granted: frozenset[str], route: Route) -> None:
    if route.sudo and "sudo" not in granted:
        raise PermissionDeniedError()


def _error(exc: VaultError) -> ApiResponse:
    if isinstance(exc, NotFoundError) and not exc.message:
        return ApiResponse(status=404)
    message = str(exc) if exc.hint and isinstance(exc, InvalidRequestError) else exc.message
    errors = (
        (message, exc.hint) if isinstance(exc, PermissionDeniedError) and exc.hint else (message,)
    )
    return ApiResponse(status=exc.status, errors=errors)


@dataclass(frozen=True)
class _AuditBase:
    """What a request's two audit entries share, HMAC'd once."""

    key: bytes | None
    auth: dict[str, Any] | None
    request: dict[str, Any]
    changes: bool  # may change something: its request line is durable before it runs...
    at_commit: bool  # ...or, for KV changes, before they commit (see groupcommit.audit_first)


def _audit_base(
    store: SecretsStore, req: ApiRequest, caller: Caller | None, at_commit: bool
) -> _AuditBase:
    key = store.audit_key()
    request = {
        "id": req.request_id,
        "operation": req.operation,
        "path": req.path,
        "client_token": hmac_values(req.token, key) if req.token else "",
        "remote_address": req.remote,
        "data": hmac_values(dict(req.body), key) if req.body else None,
    }
    changes = req.operation not in ("read", "list")
    return _AuditBase(key, _audit_auth(caller, key), request, changes, changes and at_commit)


def _audit(
    store: SecretsStore,
    base: _AuditBase,
    response: ApiResponse | None,
    *,
    error: VaultError | None = None,
) -> int:
    """Write one entry; returns its ticket. A request line of anything that may change
    something is made durable here, before it runs, unless the change's commit does it
    (``at_commit``); the caller makes the response durable (which covers a read's request
    line too) before the answer is sent."""
    key = base.key
    entry: dict[str, Any] = {
        "type": "request" if response is None else "response",
        "auth": base.auth,
        "request": base.request,
    }
    if response is not None:
        entry["response"] = {
            "status": response.status,
            "data": hmac_values(response.data if response.raw is None else response.raw, key),
            "auth": hmac_values(response.auth, key) if response.auth else None,
        }
        if response.lease is not None:
            entry["response"]["secret"] = {"lease_id": response.lease.lease_id}
        if response.errors:
            entry["error"] = "; ".join(response.errors)
    if error is not None:
        entry["error"] = str(error)
    ticket = store.audit.append(entry)
    if response is None and base.changes and not base.at_commit:
        store.audit.sync(ticket)
    return ticket


def _audit_auth(caller: Caller | None, key: bytes | None) -> dict[str, Any] | None:
    if caller is None:
        return None
    record = caller.entry.record
    return {
        "accessor": hmac_values(record.accessor, key),
        "display_name": record.display_name,
        "policies": list(record.policies),
        "metadata": hmac_values(record.meta, key) if record.meta else None,
    }


def _render(response: ApiResponse, request_id: str) -> Response:
    if response.status == 204:
        return Response(status_code=204)
    if response.raw is not None:
        return JSONResponse(response.raw, status_code=response.status)
    lease = response.lease
    if response.data is None and response.auth is None and lease is None:
        return JSONResponse({"errors": list(response.errors)}, status_code=response.status)
    return JSONResponse(
        {
            "request_id": request_id,
            "lease_id": lease.lease_id if lease else "",
            "renewable": lease.renewable if lease else False,
            "lease_duration": lease.lease_duration if lease else 0,
            "data": response.data,
            "wrap_info": None,
            "warnings": list(response.warnings) or None,
            "auth": response.auth,
            "mount_type": "",
        },
        status_code=response.status,
    )
