"""The ``backups`` controller: backups (then retention) on each policy's schedule, WAL
shipping on a ``pitr`` policy's ``walSchedule``, repository checks and restore drills on
theirs, in a worker thread so that a tick returns at once.

A schedule starts counting when the controller first sees it (a ``schedule`` row records
that moment). A time that fell due while the daemon was down runs once when it is back: only
the latest due time counts, as the cron controller does (``workloads.schedule.latest_due``).
A failed run is recorded with its reason, alerted (:mod:`stackwright.recover.alerts`), and
raised from the next tick, so ``stackwright status`` shows the controller's last error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any, ClassVar

from stackwright.core.controllers import ControllerContext, interval_setting
from stackwright.errors import TemporaryError
from stackwright.recover import alerts
from stackwright.recover.platform import Platform
from stackwright.recover.records import Run
from stackwright.workloads.schedule import latest_due

Job = tuple[str, str]  # (kind, name): ("backup", "shop"), ("drill", "weekly"), ("check", …)


def _schedules(platform: Platform) -> dict[Job, str]:
    from stackwright.recover.kinds import DrillSpec, PolicySpec, RepositorySpec

    found: dict[Job, str] = {}
    for name, rec in platform.resources("BackupPolicy").items():
        if (expr := PolicySpec.model_validate(dict(rec.inputs)).schedule):
            found[("backup", name)] = expr
        if (wal := PolicySpec.model_validate(dict(rec.inputs)).walSchedule):
            found[("wal", name)] = wal
    for name, rec in platform.resources("RestoreDrill").items():
        if (expr := DrillSpec.model_validate(dict(rec.inputs)).schedule):
            found[("drill", name)] = expr
    for name, rec in platform.resources("BackupRepository").items():
        if (expr := RepositorySpec.model_validate(dict(rec.inputs)).check.schedule):
            found[("check", name)] = expr
    return found


def run_job(platform: Platform, job: Job, scheduled: str) -> Run:
    from stackwright.recover.backup import apply_retention, run_policy
    from stackwright.recover.checks import check_repository
    from stackwright.recover.drills import run_drill

    kind, name = job
    if kind == "backup":
        run = run_policy(platform, name, scheduled_for=scheduled)
        if run.status == "succeeded":
            apply_retention(platform, name)
        return run
    if kind == "drill":
        return run_drill(platform, name, scheduled_for=scheduled)
    if kind == "wal":
        from stackwright.recover.backup import ship_wal

        return ship_wal(platform, name, scheduled_for=scheduled)
    return check_repository(platform, name, scheduled_for=scheduled)


class BackupsController:
    name: ClassVar[str] = "backups"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.interval = interval_setting(settings, 5.0)
        self.enabled = bool(settings.get("enabled", True))
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backups")
        self.active: dict[Job, Future[Run]] = {}
        self.platform: Platform | None = None

    def close(self, timeout: float) -> None:
        """Drop the runs that have not started, then wait for the one in progress (a restic
        prune or check holds the repository's lock until it ends)."""
        self.pool.shutdown(wait=False, cancel_futures=True)
        wait(list(self.active.values()), timeout=timeout)

    def _platform(self, ctx: ControllerContext) -> Platform:
        if self.platform is None:
            engine = getattr(ctx, "engine", None)
            if engine is None:
                from stackwright.core.engine import Engine

                dc = ctx.driver_context(_any_address())
                engine = Engine(dc.project_dir, environment=ctx.environment)
            self.platform = Platform(engine)
        return self.platform

    def tick(self, ctx: ControllerContext) -> None:
        if not self.enabled:
            return
        platform = self._platform(ctx)
        self._collect(ctx)
        now = datetime.now(UTC)
        schedules = _schedules(platform)
        for job, expr in schedules.items():
            if job in self.active or ctx.stop.is_set():
                continue
            due = self._due(platform, job, expr, now)
            if due is not None:
                ctx.event(f"{job[0]}.started", resource=job[1], scheduled=due)
                self.active[job] = self.pool.submit(run_job, platform, job, due)
        failing = _failing(platform, schedules)
        if failing:  # until a later run of the job succeeds, status shows why
            raise TemporaryError("; ".join(failing), delay=self.interval)

    def _due(self, platform: Platform, job: Job, expr: str, now: datetime) -> str | None:
        kind, name = job
        last = platform.records.last_scheduled(kind, name)
        if last is None:  # first sight: the schedule counts from now
            platform.records.save(Run(kind=kind, name=name, scheduled_for=now.isoformat(),
                                      status="scheduled", finished_at=now.isoformat(),
                                      details={"note": "schedule first seen"}))
            return None
        due = latest_due(expr, datetime.fromisoformat(last), now)
        return due.isoformat() if due is not None else None

    def _collect(self, ctx: ControllerContext) -> None:
        """Log the end of finished runs; alert on failed ones."""
        for job, future in list(self.active.items()):
            if not future.done():
                continue
            del self.active[job]
            exc = future.exception()
            run = future.result() if exc is None else None
            if run is not None and run.status == "succeeded":
                ctx.event(f"{job[0]}.finished", resource=job[1], run=run.id,
                          **{k: run.details.get(k) for k in ("rto", "rpo", "bytes", "added")
                             if k in run.details})
                continue
            reason = run.reason if run is not None else str(exc)
            ctx.event(f"{job[0]}.failed", resource=job[1], run=run.id if run else None,
                      reason=reason)
            if job[0] != "drill":  # a drill alerts on its own
                self._alert(ctx, job, reason, run)

    def _alert(self, ctx: ControllerContext, job: Job, reason: str | None,
               run: Run | None) -> None:
        kinds = {"backup": "BackupPolicy", "wal": "BackupPolicy", "check": "BackupRepository"}
        alert = alerts.Alert(name=f"{job[0].capitalize()}Failed", severity="critical",
                             project=ctx.project, environment=ctx.environment,
                             resource=f"{kinds[job[0]]}/{job[1]}",
                             summary=f"{job[0]} {job[1]} failed: {reason}",
                             run=run.id if run else "",
                             project_dir=str(self._platform(ctx).engine.root))
        ctx.event("backup.alert", alert=alert.name, resource=alert.resource,
                  sinks=alerts.send(alert))


def _failing(platform: Platform, jobs: Mapping[Job, str]) -> list[str]:
    """The scheduled jobs whose latest run failed, with the reason."""
    found = []
    for kind, name in jobs:
        latest = [r for r in platform.records.list(kind, name, limit=5)
                  if r.status not in ("scheduled", "running")][:1]
        if latest and latest[0].status == "failed":
            found.append(f"{kind} {name} failed (run {latest[0].id}): {latest[0].reason}")
    return found


def _any_address() -> Any:
    from stackwright.core.model import Address

    return Address("BackupPolicy", "any")


def backups_controller(settings: Mapping[str, Any]) -> BackupsController:
    return BackupsController(settings)


_: Callable[[Mapping[str, Any]], BackupsController] = backups_controller
