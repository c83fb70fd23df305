"""GitOps on the API: ``/api/v1/gitops`` (status and recent commits), one commit's plan,
``…/approve`` (operator: the guard asks it of every path ending so) and ``…/sync`` (poll now)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, HTTPException, Path, Request
from starlette.concurrency import run_in_threadpool

from stackwright.server.access.guard import principal_of

if TYPE_CHECKING:
    from stackwright.server.app import PlatformContext
    from stackwright.server.gitops import GitOps

COMMIT = Path(pattern=r"^[0-9a-fA-F]{7,40}$", description="A commit sha or a prefix of it")
NOT_ON = "GitOps is not configured for this project"
HINT = "set settings.gitops in stackwright.yaml (docs/gitops.md) and restart the daemon"


def watcher(ctx: PlatformContext) -> GitOps:
    found = ctx.components.get("gitops")
    if found is None or not hasattr(found, "approve"):
        error = getattr(found, "error", None)
        raise HTTPException(404, f"GitOps failed to start: {error}" if error else NOT_ON)
    return found  # type: ignore[no-any-return]


def mount_gitops(app: FastAPI, ctx: PlatformContext) -> None:
    router = APIRouter(prefix="/api/v1/gitops", tags=["gitops"],
                       responses={404: {"description": f"{NOT_ON} ({HINT})"}})

    @router.get("", summary="GitOps status and the recent commits with their plans' outcome")
    def status() -> dict[str, Any]:
        found = watcher(ctx)
        return {**found.status(), "runs": found.listing()}

    @router.get("/runs/{commit}", summary="One commit: its plan, status and operation")
    def one(commit: str = COMMIT) -> dict[str, Any]:
        run = watcher(ctx).run_doc(commit)
        if run is None:
            raise HTTPException(404, f"no GitOps run for commit {commit}")
        return run

    @router.post("/runs/{commit}/approve", summary="Apply a waiting commit's plan (operator)")
    async def approve(request: Request, commit: str = COMMIT) -> dict[str, Any]:
        who = principal_of(request)
        found = watcher(ctx)
        try:
            return await run_in_threadpool(found.approve, commit, who.actor)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from exc

    @router.post("/sync", summary="Poll the repository now (and check drift when due)")
    def sync() -> dict[str, Any]:
        found = watcher(ctx)
        found.sync()
        return found.status()

    @router.post("/drift", summary="Check drift now against the last applied commit")
    async def drift() -> dict[str, Any]:
        return await run_in_threadpool(watcher(ctx).check_drift)

    app.include_router(router)
