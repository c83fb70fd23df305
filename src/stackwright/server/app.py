"""The daemon's HTTP API: ``/api/v1/health``, ``/api/v1/status``, the platform API
(:mod:`stackwright.server.api`), users and tokens (:mod:`stackwright.server.access`), the web
console (:mod:`stackwright.server.console`), the routes domains mount, and, when the secrets
store is on, Vault's API under ``/v1/`` at the same address (so ``VAULT_ADDR`` is the daemon).

Every route but ``/v1`` is behind the access guard (:mod:`stackwright.server.access.guard`),
the domains' routes included: the guard is a middleware around the whole application."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from stackwright import __version__

if TYPE_CHECKING:
    from stackwright.core.engine import Engine


@dataclass
class PlatformContext:
    """What the routes may use; passed explicitly, never a module global."""

    engine: Engine
    started: float
    pid: int
    api: str
    secrets: Any = None
    controllers: Any = None  # a ControllerHost, when controllers run
    log: Any = None  # the daemon's JsonLog
    components: dict[str, Any] = field(default_factory=dict)  # name -> a started Component
    access: Any = None  # the AccessStore; opened on the state database when None
    tls: bool = False  # served over HTTPS (session cookies are then Secure)
    operations: Any = None  # the API's Operations (server.operations), set by mount_api


def create_platform_app(ctx: PlatformContext) -> FastAPI:
    app = FastAPI(title="Stackwright platform API", version=__version__)
    _install_guard(app, ctx)

    @app.get("/api/v1/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "pid": ctx.pid, "version": __version__}

    @app.get("/api/v1/status")
    async def status() -> dict[str, Any]:
        return await run_in_threadpool(platform_status, ctx)

    from stackwright.server.api import mount_api
    from stackwright.server.console import mount_console
    from stackwright.server.gitops_routes import mount_gitops

    mount_api(app, ctx)
    mount_gitops(app, ctx)
    mount_console(app, ctx)
    mount_domain_routes(app, ctx)
    if ctx.secrets is not None:
        from stackwright.secrets.api.app import create_vault_app

        app.mount("/v1", _strip_prefix(create_vault_app(ctx.secrets)))
    return app


def _install_guard(app: FastAPI, ctx: PlatformContext) -> None:
    from stackwright.server.access.guard import Guard, GuardSettings
    from stackwright.server.access.roles import protected_environments
    from stackwright.server.access.routes import mount_access
    from stackwright.server.access.store import AccessStore

    if ctx.access is None:
        ctx.access = AccessStore.open(ctx.engine.state_url)
    engine = ctx.engine
    server = engine.config.settings.get("server") or {}
    check_access_settings(server)
    settings = GuardSettings(environment=engine.environment,
                             protected=protected_environments(engine.config.settings),
                             local_trust=server.get("localTrust", True) is not False,
                             tls=ctx.tls, hosts=_hosts(ctx.api, server))
    mount_access(app, ctx.access, engine.environment)
    app.add_middleware(Guard, access=ctx.access, settings=settings,
                       audit=lambda who, action, data: audit(ctx, who, action, data))


_ACCESS_SETTINGS = {"protected": ("a list of environment names", "protected: [prod]"),
                    "hostnames": ("a list of host names", "hostnames: [platform.example]"),
                    "localTrust": ("true or false", "localTrust: false")}


def check_access_settings(server: dict[str, Any]) -> None:
    """``settings.server.protected``, ``hostnames`` and ``localTrust`` have the right types,
    or the daemon refuses to start naming the field (never a silent default)."""
    from stackwright.server.daemon import DaemonError

    for key, (expected, example) in _ACCESS_SETTINGS.items():
        if key not in server:
            continue
        value = server[key]
        ok = (isinstance(value, bool) if key == "localTrust" else
              isinstance(value, list) and all(isinstance(v, str) for v in value))
        if not ok:
            raise DaemonError(f"stackwright.yaml: settings.server.{key}: {value!r} is not "
                              f"{expected}", hint=f"for example `{example}`")


def _hosts(api: str, server: dict[str, Any]) -> frozenset[str]:
    """The names a request's Host header may carry: loopback, the address served, and
    ``settings.server.hostnames``."""
    from urllib.parse import urlsplit

    names = {"127.0.0.1", "localhost", "[::1]", urlsplit(api).hostname or "127.0.0.1"}
    names.update(str(n) for n in server.get("hostnames") or [])
    return frozenset(names)


def audit(ctx: PlatformContext, who: str, action: str, data: dict[str, Any]) -> None:
    """Append to the project's audit log, as ``who``."""
    from stackwright.core.state.records import AuditEvent

    engine = ctx.engine
    engine.store.audit_append(AuditEvent(actor=who, action=action, project=engine.name,
                                         env=engine.environment, data=data))


ROUTES_GROUP = "stackwright.routes"


def mount_domain_routes(app: FastAPI, ctx: PlatformContext) -> None:
    """Domain packages add API routes through the ``stackwright.routes`` entry-point group:
    each names a ``mount(app: FastAPI, ctx: PlatformContext) -> None`` that includes its
    routers, under ``/api/v1/<domain>/``."""
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group=ROUTES_GROUP), key=lambda e: e.name):
        ep.load()(app, ctx)


def _strip_prefix(vault: FastAPI) -> Any:
    """The Vault app routes ``/v1/...`` itself: hand it the whole path, with no root path
    (Starlette versions differ on whether a mount strips its prefix from ``path``)."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if not path.startswith("/v1/"):
                path = "/v1" + path
            scope = {**scope, "path": path, "root_path": ""}
        await vault(scope, receive, send)

    return asgi


def platform_status(ctx: PlatformContext) -> dict[str, Any]:
    from stackwright.server.status import resource_rows

    engine = ctx.engine
    resources = resource_rows(engine)
    secrets = None
    if ctx.secrets is not None:
        secrets = {"sealed": ctx.secrets.barrier.sealed,
                   "auto_unseal": ctx.secrets.settings.auto_unseal_key_file is not None}
    return {"project": engine.name, "environment": engine.environment, "pid": ctx.pid,
            "api": ctx.api, "uptime_s": round(time.time() - ctx.started, 1),
            "version": __version__, "resources": resources, "secrets": secrets,
            "controllers": ctx.controllers.status() if ctx.controllers is not None else [],
            "components": {name: c.status() for name, c in ctx.components.items()}}
