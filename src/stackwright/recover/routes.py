"""``/api/v1/backups/…`` and ``/api/v1/drills/…`` on the daemon: the policies and drills of
the daemon's project with their last runs, a policy's snapshots, run history, and running a
backup or a drill now (``operator``; the request returns when the run is recorded, failed or
not, with the recorded run)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from stackwright.errors import StackwrightError
from stackwright.server.access.guard import require

if TYPE_CHECKING:
    from stackwright.recover.platform import Platform
    from stackwright.recover.records import Run
    from stackwright.server.app import PlatformContext

T = TypeVar("T")


class RunOut(BaseModel):
    """One recorded run: a backup, a retention, a drill, a check or a safety backup."""

    id: str
    kind: str
    name: str
    scheduled_for: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    status: str
    reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class RunsOut(BaseModel):
    runs: list[RunOut]


class PolicyOut(BaseModel):
    name: str
    repository: str
    schedule: str | None = None
    sources: list[str]
    objectives: dict[str, str | None]
    last_run: RunOut | None = None


class PoliciesOut(BaseModel):
    policies: list[PolicyOut]


class DrillOut(BaseModel):
    name: str
    policy: str
    schedule: str | None = None
    last_run: RunOut | None = None


class DrillsOut(BaseModel):
    drills: list[DrillOut]


class SnapshotOut(BaseModel):
    id: str
    time: str
    policy: str
    source: str | None = None
    type: str | None = None
    run: str | None = None
    safety: bool = False
    size: int | None = None
    added: int | None = None
    dedup: float | None = None


class SnapshotsOut(BaseModel):
    snapshots: list[SnapshotOut]


def _run_out(run: Run) -> RunOut:
    return RunOut(id=run.id, kind=run.kind, name=run.name, scheduled_for=run.scheduled_for,
                  started_at=run.started_at, finished_at=run.finished_at, status=run.status,
                  reason=run.reason, details=dict(run.details))


def _guard(call: Callable[[], T]) -> T:
    try:
        return call()
    except StackwrightError as exc:
        missing = str(exc).startswith("no ") and "is applied" in str(exc)
        raise HTTPException(404 if missing else 400, str(exc)) from exc


def _last(platform: Platform, kind: str, name: str) -> RunOut | None:
    runs = platform.records.list(kind, name, limit=1)
    return _run_out(runs[0]) if runs else None


def _policies(platform: Platform) -> PoliciesOut:
    from stackwright.recover.kinds import PolicySpec

    found = []
    for name, rec in sorted(platform.resources("BackupPolicy").items()):
        spec = PolicySpec.model_validate(dict(rec.inputs))
        sources = [f"Database/{n}" for n in spec.sources.databases] + [
            f"Cache/{n}" for n in spec.sources.caches] + [
            f"Volume/{n}" for n in spec.sources.volumes] + [
            f"File/{n}" for n in spec.sources.files]
        found.append(PolicyOut(name=name, repository=spec.repository, schedule=spec.schedule,
                               sources=sources, objectives=spec.objectives.model_dump(),
                               last_run=_last(platform, "backup", name)))
    return PoliciesOut(policies=found)


def _drills(platform: Platform) -> DrillsOut:
    from stackwright.recover.kinds import DrillSpec

    found = []
    for name, rec in sorted(platform.resources("RestoreDrill").items()):
        spec = DrillSpec.model_validate(dict(rec.inputs))
        found.append(DrillOut(name=name, policy=spec.policy, schedule=spec.schedule,
                              last_run=_last(platform, "drill", name)))
    return DrillsOut(drills=found)


def _history(platform: Platform, kind: str, name: str | None, limit: int) -> RunsOut:
    if name is not None:
        platform.recorded("BackupPolicy" if kind == "backup" else "RestoreDrill", name)
    return RunsOut(runs=[_run_out(r) for r in platform.records.list(kind, name, limit=limit)])


def _snapshots(platform: Platform, policy: str) -> SnapshotsOut:
    from stackwright.recover.backup import listing

    return SnapshotsOut(snapshots=[SnapshotOut(**row) for row in listing(platform, policy)])


def _run_backup(platform: Platform, policy: str) -> RunOut:
    from stackwright.recover.backup import apply_retention, run_policy

    platform.policy(policy)  # 404 before anything is recorded
    run = run_policy(platform, policy)
    if run.status == "succeeded":
        apply_retention(platform, policy)
    return _run_out(run)


def _run_drill(platform: Platform, drill: str) -> RunOut:
    from stackwright.recover.drills import run_drill

    platform.drill(drill)
    return _run_out(run_drill(platform, drill))


def mount(app: FastAPI, ctx: PlatformContext) -> None:
    from stackwright.recover.platform import Platform

    platform = Platform(ctx.engine)
    app.include_router(backups_router(platform), prefix="/api/v1/backups")
    app.include_router(drills_router(platform), prefix="/api/v1/drills")


Limit = Query(50, ge=1, le=1000, description="At most this many runs, newest first.")


def backups_router(platform: Platform) -> APIRouter:
    api = APIRouter(tags=["backups"])

    async def call(fn: Callable[..., T], *args: Any) -> T:
        return await run_in_threadpool(_guard, partial(fn, platform, *args))

    @api.get("", response_model=PoliciesOut)
    async def policies() -> PoliciesOut:
        """The backup policies with their last backup run."""
        return await call(_policies)

    @api.get("/runs", response_model=RunsOut)
    async def runs(policy: str | None = None, limit: int = Limit
                   ) -> RunsOut:
        """Backup runs (of one policy), newest first."""
        return await call(_history, "backup", policy, limit)

    @api.get("/{policy}/snapshots", response_model=SnapshotsOut)
    async def snapshots(policy: str) -> SnapshotsOut:
        """The policy's snapshots in its repository, oldest first, with size and dedup."""
        return await call(_snapshots, policy)

    @api.post("/{policy}/runs", response_model=RunOut,
              dependencies=[Depends(require("operator"))])
    async def run(policy: str) -> RunOut:
        """Back up every source of the policy now, then apply its retention."""
        return await call(_run_backup, policy)

    return api


def drills_router(platform: Platform) -> APIRouter:
    api = APIRouter(tags=["drills"])

    async def call(fn: Callable[..., T], *args: Any) -> T:
        return await run_in_threadpool(_guard, partial(fn, platform, *args))

    @api.get("", response_model=DrillsOut)
    async def drills() -> DrillsOut:
        """The restore drills with their last run."""
        return await call(_drills)

    @api.get("/runs", response_model=RunsOut)
    async def runs(drill: str | None = None, limit: int = Limit
                   ) -> RunsOut:
        """Drill runs (of one drill), newest first: RTO and RPO against the objectives."""
        return await call(_history, "drill", drill, limit)

    @api.post("/{drill}/runs", response_model=RunOut,
              dependencies=[Depends(require("operator"))])
    async def run(drill: str) -> RunOut:
        """Run the drill now: restore into scratch, verify, measure RTO and RPO."""
        return await call(_run_drill, drill)

    return api
