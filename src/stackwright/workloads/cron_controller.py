"""The daemon's ``cronjobs`` controller: starts cron job runs on schedule and collects them.

Each tick, per cron job: finished runs are collected (exit code, log file, container
removed; a failed run is retried up to ``retries``), a run past its timeout is killed, then
:func:`~stackwright.workloads.schedule.decide` says whether a run starts now, and the kept
history is cut to its limits. Runs are detached podman containers, so a daemon restart
neither kills nor forgets them: the next daemon collects them from runs.json.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from stackwright.core.controllers import ControllerContext, interval_setting
from stackwright.core.kinds import DriverContext
from stackwright.core.model import Address, Status
from stackwright.local import labels_for, object_name, podman_for
from stackwright.tools.podman import ContainerSpec, NetworkAttachment, Podman, VolumeMount
from stackwright.workloads.cron import LABEL_CRONJOB, CronJobSpec, CronRun, CronRuns, now_iso
from stackwright.workloads.schedule import decide

TIMED_OUT = 124


class CronController:
    name: ClassVar[str] = "cronjobs"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.interval = interval_setting(settings, 1.0)

    def tick(self, ctx: ControllerContext) -> None:
        for address, record in sorted(ctx.resources("CronJob").items()):
            if record.status is not Status.READY or ctx.stop.is_set():
                continue
            spec = CronJobSpec.model_validate(dict(record.inputs))
            CronJobRunner(ctx, address, spec).tick(datetime.fromisoformat(now_iso()))


class CronJobRunner:
    """One tick of one cron job."""

    def __init__(self, ctx: ControllerContext, address: Address, spec: CronJobSpec) -> None:
        self.ctx = ctx
        self.address = address
        self.spec = spec
        self.dctx: DriverContext = ctx.driver_context(address)
        self.podman: Podman = podman_for(self.dctx)
        self.path = CronRuns.path(self.dctx.project_dir, ctx.environment, address.name)

    def tick(self, now: datetime) -> None:
        with CronRuns.locked(self.dctx.project_dir, self.ctx.environment):
            runs = CronRuns.load(self.path)
            if runs is not None:  # None: being destroyed, or never applied here
                self._tick(runs, now)

    def _tick(self, runs: CronRuns, now: datetime) -> None:
        for run in runs.active:
            self._collect(runs, run, now)
        last = datetime.fromisoformat(runs.last_scheduled)
        decision = decide(self.spec.schedule, last=last, now=now,
                          active=[r.id for r in runs.active],
                          policy=self.spec.concurrencyPolicy,
                          deadline=self.spec.startingDeadlineSeconds, zone=self.spec.timeZone,
                          suspended=self.spec.suspend)
        if decision.scheduled is not None:
            runs.last_scheduled = decision.scheduled.isoformat()
        if decision.note:
            self.ctx.event("cron.not_started", address=str(self.address),
                           scheduled=runs.last_scheduled, why=decision.note)
        if decision.stop_active:
            for run in runs.active:
                self._stop(run, "replaced", "replaced by the next scheduled run")
        if decision.start:
            runs.runs.append(self._start(runs.last_scheduled, attempt=1))
        self._prune(runs)
        runs.save(self.path)

    def _start(self, scheduled: str, attempt: int) -> CronRun:
        run_id = uuid.uuid4().hex[:10]
        name = f"{object_name(self.dctx, self.address)}-{run_id}"
        spec = self.spec
        self.podman.container_run(ContainerSpec(
            name=name, image=spec.image, command=tuple(spec.command), env=spec.env,
            networks=tuple(NetworkAttachment(n) for n in spec.networks),
            volumes=tuple(VolumeMount(v.name, v.path, v.readOnly) for v in spec.volumes),
            labels={**labels_for(self.dctx, self.address), LABEL_CRONJOB: run_id}))
        self.ctx.event("cron.started", address=str(self.address), run=run_id,
                       scheduled=scheduled, attempt=attempt)
        return CronRun(run_id, scheduled, now_iso(), name, attempt)

    def _collect(self, runs: CronRuns, run: CronRun, now: datetime) -> None:
        done = self.podman.probe(["container", "inspect", "--format",
                                  "{{.State.Status}} {{.State.ExitCode}}", run.container])
        if done.returncode != 0:
            self._finish(run, "failed", None, "the container vanished")
        else:
            status, code = (done.stdout.split() + ["", "0"])[:2]
            if status in ("running", "created", "configured", "initialized"):
                started = datetime.fromisoformat(run.started)
                if now - started > timedelta(seconds=self.spec.timeout):
                    self._stop(run, "failed", f"killed after {self.spec.timeout:g}s")
                    run.exit_code = TIMED_OUT
                return
            self._finish(run, "succeeded" if code == "0" else "failed", int(code), None)
        if run.status == "failed" and run.attempt <= self.spec.retries:
            runs.runs.append(self._start(run.scheduled, attempt=run.attempt + 1))

    def _finish(self, run: CronRun, status: str, code: int | None, note: str | None) -> None:
        log = self.path.parent / f"{run.id}.log"
        logs = self.podman.probe(["logs", run.container])
        log.write_text(logs.stdout + logs.stderr)
        self.podman.probe(["rm", "--force", "--ignore", run.container])
        run.status, run.exit_code, run.note = status, code, note
        run.finished, run.log = now_iso(), str(log)
        self.ctx.event("cron.finished", address=str(self.address), run=run.id, status=status,
                       exit_code=code, **({"note": note} if note else {}))

    def _stop(self, run: CronRun, status: str, note: str) -> None:
        self.podman.probe(["stop", "--time", "5", run.container])
        self._finish(run, status, None, note)

    def _prune(self, runs: CronRuns) -> None:
        limits = {"succeeded": self.spec.successfulJobsHistoryLimit,
                  "failed": self.spec.failedJobsHistoryLimit,
                  "replaced": self.spec.failedJobsHistoryLimit}
        keep: list[CronRun] = []
        for run in reversed(runs.runs):
            limit = limits.get(run.status)
            if limit is not None:
                if limit <= sum(1 for k in keep if k.status == run.status):
                    if run.log:
                        Path(run.log).unlink(missing_ok=True)
                    continue
            keep.append(run)
        runs.runs = list(reversed(keep))


def cron_controller(settings: Mapping[str, Any]) -> CronController:
    return CronController(settings)
