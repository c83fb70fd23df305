"""``/api/v1/session`` (log in and out, who am I) and ``/api/v1/access`` (users: admin;
tokens: one's own, or anyone's for an admin)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from stackwright.server.access.guard import CSRF_HEADER, SESSION_COOKIE, principal_of, require
from stackwright.server.access.roles import at_least
from stackwright.server.access.store import SESSION_TTL, AccessError, AccessStore, Principal

if TYPE_CHECKING:
    from stackwright.server.access.guard import Guard

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "cannot be done"}, 401: {"description": "not authenticated"},
    403: {"description": "not allowed"}, 404: {"description": "no such user or token"}}
Role = Field(pattern=r"^(viewer|developer|operator|admin)$")
AnyUser = Annotated[Principal, Depends(require("viewer"))]


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    password: str | None = Field(None, min_length=8, max_length=1024)
    role: str = Role
    environment: str = Field("*", min_length=1, max_length=64)


class Grant(BaseModel):
    role: str | None = Field(None, pattern=r"^(viewer|developer|operator|admin)$")


class NewToken(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    ttl_s: float | None = Field(None, gt=0, le=10 * 365 * 86400)
    role: str | None = Field(None, pattern=r"^(viewer|developer|operator|admin)$")
    user: str | None = Field(None, min_length=1, max_length=64,
                             description="Another user's (admin only)")


def _guard(request: Request) -> Guard:
    guard = request.scope.get("state", {}).get("guard")
    if guard is None:
        raise HTTPException(500, "the access guard is not installed")
    return guard  # type: ignore[no-any-return]


def mount_access(app: FastAPI, access: AccessStore, environment: str) -> None:
    session = APIRouter(prefix="/api/v1/session", tags=["access"], responses=ERRORS)
    users = APIRouter(prefix="/api/v1/access", tags=["access"], responses=ERRORS)
    _session_routes(session, access, environment)
    _user_routes(users, access)
    _token_routes(users, access)
    app.include_router(session)
    app.include_router(users)


def _session_routes(router: APIRouter, access: AccessStore, environment: str) -> None:
    @router.post("/login", summary="Log in: sets the session cookie, returns the CSRF token",
                 responses={401: {"description": "wrong user or password"},
                            429: {"description": "too many failed attempts"}})
    async def login(body: Login, request: Request, response: Response) -> dict[str, Any]:
        outcome = await attempt_login(_guard(request), access, request, body.username,
                                      body.password, via="api")
        if outcome.retry_after:
            raise HTTPException(429, "too many failed logins; try again later",
                                headers={"Retry-After": str(int(outcome.retry_after) + 1)})
        if outcome.session is None or outcome.csrf is None:
            raise HTTPException(401, "wrong user name or password")
        set_session_cookie(response, outcome.session, _guard(request).settings.tls)
        csrf = outcome.csrf
        role = await run_in_threadpool(access.role_of, body.username, environment)
        return {"user": body.username, "role": role, "environment": environment,
                "csrf_token": csrf, "csrf_header": CSRF_HEADER}

    @router.post("/logout", status_code=204, summary="End the session")
    async def logout(request: Request, response: Response) -> None:
        sid = request.cookies.get(SESSION_COOKIE)
        if sid:
            await run_in_threadpool(access.end_session, sid)
        response.delete_cookie(SESSION_COOKIE, path="/")

    @router.get("", summary="Who the request acts as")
    def me(request: Request) -> dict[str, Any]:
        who = principal_of(request)
        return {"user": who.name, "role": who.role, "via": who.via,
                "environment": environment}


@dataclass(frozen=True)
class LoginOutcome:
    session: str | None = None  # set when the password was right
    csrf: str | None = None
    retry_after: float = 0.0  # set when too many attempts failed


async def attempt_login(guard: Guard, access: AccessStore, request: Request, user: str,
                        password: str, *, via: str) -> LoginOutcome:
    """Check a login against the rate limit and the password; audit it either way; open a
    session when it succeeds. Shared by the API and the console's form."""
    client = request.client.host if request.client else "?"
    keys = (f"ip:{client}", f"user:{user}")
    wait = guard.limiter.retry_after(*keys)
    if wait > 0:
        return LoginOutcome(retry_after=wait)
    if not user or not await run_in_threadpool(access.check_password, user, password):
        guard.limiter.failed(*keys)
        await run_in_threadpool(guard.audit, user or "?", "access.login_failed",
                                {"client": client, "via": via})
        return LoginOutcome()
    guard.limiter.succeeded(*keys)
    sid, csrf = await run_in_threadpool(access.create_session, user)
    await run_in_threadpool(guard.audit, user, "access.login", {"client": client, "via": via})
    return LoginOutcome(session=sid, csrf=csrf)


def set_session_cookie(response: Response, session: str, tls: bool) -> None:
    response.set_cookie(SESSION_COOKIE, session, max_age=int(SESSION_TTL), httponly=True,
                        samesite="strict", secure=tls, path="/")


def _user_routes(router: APIRouter, access: AccessStore) -> None:
    @router.get("/users", summary="Users and their roles (admin)")
    def users() -> list[dict[str, Any]]:
        return access.users()

    @router.post("/users", status_code=201, summary="Add a user (admin)")
    def add(body: NewUser) -> dict[str, Any]:
        _access(lambda: access.add_user(body.name, body.password,
                                        {body.environment: body.role}))
        return next(u for u in access.users() if u["name"] == body.name)

    @router.put("/users/{name}/roles/{environment}", summary="Grant or take a role (admin)")
    def grant(name: str, environment: str, body: Grant) -> dict[str, Any]:
        _access(lambda: access.grant(name, environment, body.role))
        return next(u for u in access.users() if u["name"] == name)

    @router.delete("/users/{name}", status_code=204, summary="Remove a user (admin)")
    def remove(name: str) -> None:
        _access(lambda: access.remove_user(name))


def _token_routes(router: APIRouter, access: AccessStore) -> None:
    @router.get("/tokens", summary="API tokens: one's own, or all for an admin")
    def tokens(who: AnyUser) -> list[dict[str, Any]]:
        return access.tokens(None if at_least(who.role, "admin") else who.name)

    @router.post("/tokens", status_code=201, summary="Make a token (its secret is shown once)")
    def create(body: NewToken, who: AnyUser) -> dict[str, Any]:
        user = body.user or who.name
        if user != who.name and not at_least(who.role, "admin"):
            raise HTTPException(403, "only an admin makes tokens for other users")
        if who.via == "local" and body.user is None:
            raise HTTPException(400, "the local user has no account: name the user")
        secret, record = _access(lambda: access.create_token(user, body.name, ttl=body.ttl_s,
                                                             role=body.role))
        return {**record, "token": secret}

    @router.delete("/tokens/{token_id}", status_code=204, summary="Revoke a token")
    def revoke(token_id: str, who: AnyUser) -> None:
        owner = None if at_least(who.role, "admin") else who.name
        _access(lambda: access.revoke_token(token_id, user=owner))


def _access(action: Any) -> Any:
    try:
        return action()
    except AccessError as exc:
        status = 404 if exc.message.startswith("no ") else 400
        raise HTTPException(status, str(exc)) from exc
