"""The daemon's access check: an ASGI middleware in front of every route, the core's and those
domains mount (``stackwright.routes``) alike. Vault's API under ``/v1`` keeps its own tokens.

Each request is authenticated by, in order: an ``Authorization: Bearer swt_…`` token, the
console's session cookie, or — for a client on this machine running as the daemon's own user,
that is not a browser — the loopback itself (``settings.server.localTrust: false`` turns that
off). It then needs a role in the daemon's environment:

- ``GET``/``HEAD``/``OPTIONS``: viewer;
- any other method: developer; applying or destroying (``/api/v1/operations``) in a protected
  environment, and any path ending in ``/approve``, ``/promote`` or ``/abort``: operator;
- ``/api/v1/access/users…``: admin;
- ``POST /api/v1/cli/run``: viewer here; the route asks each command's own role
  (:mod:`stackwright.server.cli_runs`).

A route may ask for more with ``Depends(require("operator"))``. A request authenticated by
the session cookie that changes anything must carry the session's CSRF token in the
``X-CSRF-Token`` header. Every request that changes anything is written to the audit log with
its actor, method, path and status (``api.request``), and every refused one from a known
principal (``api.denied``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from stackwright.server.access.peer import peer_uid
from stackwright.server.access.ratelimit import LoginLimiter
from stackwright.server.access.roles import at_least, deploy_role
from stackwright.server.access.store import AccessStore, Principal

SESSION_COOKIE = "sw_session"
CSRF_HEADER = "x-csrf-token"
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC = frozenset({"/api/v1/health", "/openapi.json", "/docs", "/docs/oauth2-redirect",
                    "/console/login", "/api/v1/session/login"})
PUBLIC_PREFIXES = ("/console/static/",)
_OPERATOR_SUFFIX = re.compile(r"/(approve|promote|abort)/?$")
ASGI = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


@dataclass
class GuardSettings:
    environment: str
    protected: tuple[str, ...]
    local_trust: bool = True
    tls: bool = False
    hosts: frozenset[str] = field(default_factory=lambda: frozenset({"127.0.0.1", "localhost",
                                                                     "[::1]"}))


class Guard:
    """Authenticate, authorize, audit; then hand the request to ``app``."""

    def __init__(self, app: ASGI, access: AccessStore, settings: GuardSettings,
                 audit: Callable[[str, str, dict[str, Any]], None]) -> None:
        self.app = app
        self.access = access
        self.settings = settings
        self.audit = audit
        self.limiter = LoginLimiter()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == "/v1" or path.startswith("/v1/"):
            await self.app(scope, receive, send)  # Vault's API: its own token model
            return
        request = Request(scope)
        if not self._host_ok(request):
            await self._refuse(scope, send, 421, "unexpected Host header",
                               "use the address the daemon listens on")
            return
        scope.setdefault("state", {})["guard"] = self
        if path in PUBLIC or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        principal = await run_in_threadpool(self.authenticate, request)
        refusal = self._refusal(request, principal)
        if refusal is not None:
            if principal is not None and scope.get("method", "GET") not in SAFE:
                await run_in_threadpool(self.audit, principal.actor, "api.denied",
                                        {"method": scope.get("method"), "path": path,
                                         "status": refusal[0], "via": principal.via})
            await self._refuse(scope, send, *refusal)
            return
        assert principal is not None
        scope["state"]["principal"] = principal
        await self._run_audited(scope, receive, send, principal)

    # -- who --------------------------------------------------------------------------------
    def authenticate(self, request: Request) -> Principal | None:
        env = self.settings.environment
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return self.access.authenticate_token(auth[7:].strip(), env)
        session = request.cookies.get(SESSION_COOKIE)
        if session:
            return self.access.authenticate_session(session, env)
        return self._local(request)

    def _local(self, request: Request) -> Principal | None:
        """The daemon's own user on a loopback connection from a program, not a browser (a
        browser's request carries ``Origin`` or ``Sec-Fetch-*``: a web page must never act
        as the local user)."""
        client, server = request.scope.get("client"), request.scope.get("server")
        headers = request.headers
        if (not self.settings.local_trust or not client or not server
                or client[0] not in ("127.0.0.1", "::1") or "origin" in headers
                or "sec-fetch-site" in headers or "sec-fetch-mode" in headers
                or request.url.path.startswith("/console")):
            return None
        if peer_uid(int(client[1]), int(server[1])) != os.getuid():
            return None
        import getpass

        return Principal(f"local:{getpass.getuser()}", "admin", "local")

    # -- may it -----------------------------------------------------------------------------
    def needed_role(self, method: str, path: str) -> str:
        if path.startswith("/api/v1/access/users"):
            return "admin"
        if (method in SAFE or path == "/api/v1/cli/run"  # that route checks each command
                or path.startswith(("/api/v1/access/tokens", "/api/v1/session"))):
            return "viewer"
        if _OPERATOR_SUFFIX.search(path):
            return "operator"
        if path.startswith("/api/v1/operations") or path.startswith("/console/operations"):
            return deploy_role(self.settings.environment, self.settings.protected)
        return "developer"

    def _refusal(self, request: Request, who: Principal | None) -> tuple[int, str, str] | None:
        method, path = request.scope.get("method", "GET"), request.url.path
        if who is None:
            return (401, "authentication required",
                    "send Authorization: Bearer <token> (`stackwright token create`) "
                    "or log in at /console/login")
        if (who.via == "session" and method not in SAFE
                and request.headers.get(CSRF_HEADER) != who.csrf):
            return (403, "missing or wrong CSRF token",
                    "send the session's token in the X-CSRF-Token header")
        needed = self.needed_role(method, path)
        if not at_least(who.role, needed):
            return (403, f"{who.name} is {who.role or 'not granted a role'} in "
                         f"{self.settings.environment}; {method} {path} needs {needed}",
                    "an admin grants roles with `stackwright user grant`")
        return None

    async def _refuse(self, scope: dict[str, Any], send: Any, status: int, error: str,
                      hint: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": error[:120]})
            return
        if (status == 401 and scope["path"].startswith("/console")
                and scope.get("method") == "GET"):
            await _redirect(send, "/console/login")
            return
        await _reply(send, status, {"error": error, "hint": hint})

    def _host_ok(self, request: Request) -> bool:
        host = request.headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name in self.settings.hosts

    # -- what it did ------------------------------------------------------------------------
    async def _run_audited(self, scope: dict[str, Any], receive: Any, send: Any,
                           who: Principal) -> None:
        if scope.get("method", "GET") in SAFE or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen: dict[str, int] = {}

        async def watch(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            await run_in_threadpool(self.audit, who.actor, "api.request",
                                    {"method": scope["method"], "path": scope["path"],
                                     "status": seen.get("status", 500), "via": who.via})


def principal_of(request: Request) -> Principal:
    """The principal the guard authenticated (routes behind the guard only)."""
    found = request.scope.get("state", {}).get("principal")
    if not isinstance(found, Principal):
        from fastapi import HTTPException

        raise HTTPException(401, "authentication required")
    return found


def require(role: str) -> Callable[[Request], Principal]:
    """A FastAPI dependency: the request's principal, when it holds at least ``role``."""

    def dependency(request: Request) -> Principal:
        who = principal_of(request)
        if not at_least(who.role, role):
            from fastapi import HTTPException

            raise HTTPException(403, f"{who.name} is {who.role}; this needs {role}")
        return who

    return dependency


async def _reply(send: Any, status: int, body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(raw)).encode())]})
    await send({"type": "http.response.body", "body": raw})


async def _redirect(send: Any, location: str) -> None:
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode()), (b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})
