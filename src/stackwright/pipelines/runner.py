"""Running a run: its jobs scheduled along the DAG with a concurrency limit, ``if`` and
environment approvals decided, failures skipping dependents, cancel honoured.

Every decision is written to the run's tables at once, so ``pipeline show`` and the API see
a run as it goes, and a process that dies leaves rows a restart can mark interrupted.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackwright.pipelines.dag import PlannedJob, expand
from stackwright.pipelines.expressions import checks_status
from stackwright.pipelines.jobexec import JobExecution, RunEnv, SecretReader
from stackwright.pipelines.model import PipelineDef
from stackwright.pipelines.store import FINISHED, RunStore
from stackwright.tools.podman import Podman, StackwrightLabels

POLL = 0.2
FAILED = ("failed", "cancelled", "interrupted")


@dataclass
class RunnerConfig:
    """Where runs keep their files and what they may use."""

    project_dir: Path
    project: str
    environment: str
    podman: Podman
    concurrency: int = 2  # jobs at once, per run
    read_secret: SecretReader | None = None
    on_event: Callable[[str, Mapping[str, Any]], None] | None = None

    @property
    def root(self) -> Path:
        return self.project_dir / ".stackwright" / "pipelines" / self.environment


def definition_of(run: Mapping[str, Any]) -> PipelineDef:
    return PipelineDef.model_validate(json.loads(run["definition"]))


class RunExecution:
    """Carries one claimed run to its end."""

    def __init__(self, store: RunStore, run: dict[str, Any], config: RunnerConfig) -> None:
        definition = definition_of(run)
        labels = StackwrightLabels(config.project, config.environment,
                                   f"Pipeline/{run['pipeline']}").as_dict()
        self.config = config
        self.env = RunEnv(store, run, definition, expand(definition), config.root,
                          config.project_dir, config.podman, labels, config.read_secret)
        self.store = store
        self.run_id: str = run["id"]

    def _event(self, name: str, **data: Any) -> None:
        if self.config.on_event is not None:
            self.config.on_event(name, {"run": self.run_id, **data})

    def execute(self) -> str:
        """Run every job that should run; returns the run's final status."""
        self._event("pipeline.run.started", pipeline=self.env.run["pipeline"])
        rows = {r["name"]: r for r in self.store.jobs(self.run_id)}
        statuses = self.env.statuses
        statuses.update({n: r["status"] for n, r in rows.items() if r["status"] in FINISHED})
        for row in rows.values():
            if row["status"] == "success":
                self.env.outputs.setdefault(row["source"], {}).update(
                    json.loads(row["outputs"] or "{}"))
        running: dict[str, Future[str]] = {}
        with ThreadPoolExecutor(max_workers=self.config.concurrency,
                                thread_name_prefix=f"pl-{self.run_id}") as pool:
            while len(statuses) < len(self.env.jobs):
                self._check_cancel()
                self._collect(running)
                for planned in self._ready(running):
                    decision = self._decide(planned)
                    if decision == "run":
                        running[planned.name] = pool.submit(self._run_job, planned)
                    elif decision != "wait":
                        self._finish_job(planned.name, decision)
                time.sleep(POLL)
        status = self._final_status()
        self.store.update_run(self.run_id, status=status, finished=time.time())
        self._event("pipeline.run.finished", status=status)
        return status

    def _ready(self, running: Mapping[str, Future[str]]) -> list[PlannedJob]:
        out: list[PlannedJob] = []
        for planned in self.env.jobs:
            if planned.name in self.env.statuses or planned.name in running:
                continue
            if all(n in self.env.statuses for n in planned.needs):
                free = self.config.concurrency - len(running) - len(out)
                if free > 0:
                    out.append(planned)
        return out

    def _decide(self, planned: PlannedJob) -> str:
        """run, wait (for approval), skipped or cancelled."""
        if self.env.cancelled.is_set():
            return "cancelled"
        job = planned.job
        # As in Actions: without an ``if``, a job runs only when every job it needs passed.
        needs_ok = all(self.env.statuses[n] == "success" for n in planned.needs)
        ctx = self.env.context(planned, {}, self.env.run_dir)
        try:
            if job.if_ is None:
                wanted = needs_ok
            elif checks_status(job.if_):
                wanted = ctx.condition(job.if_)
            else:
                wanted = needs_ok and ctx.condition(job.if_)
        except ValueError as exc:
            self.store.update_job(self.run_id, planned.name, error=f"if: {exc}")
            return "failed"
        if not wanted:
            return "skipped"
        return self._approval(planned)

    def _approval(self, planned: PlannedJob) -> str:
        protection = self.env.definition.environments.get(planned.job.environment or "")
        if protection is None or not protection.approval:
            return "run"
        row = self.store.job(self.run_id, planned.name)
        if row["approved_by"]:
            return "run"
        if row["status"] != "waiting":
            self.store.update_job(self.run_id, planned.name, status="waiting")
            self._event("pipeline.job.waiting", job=planned.name,
                        environment=planned.job.environment)
        return "wait"

    def _run_job(self, planned: PlannedJob) -> str:
        return JobExecution(self.env, planned).run()

    def _collect(self, running: dict[str, Future[str]]) -> None:
        for name, future in list(running.items()):
            if future.done():
                del running[name]
                try:
                    status = future.result()
                except Exception as exc:  # a bug or a tool failure in one job ends only it
                    self.store.update_job(self.run_id, name, status="failed", error=str(exc),
                                          finished=time.time())
                    status = "failed"
                with self.env.lock:
                    self.env.statuses[name] = status
                self._event("pipeline.job.finished", job=name, status=status)

    def _finish_job(self, name: str, status: str) -> None:
        self.store.update_job(self.run_id, name, status=status, finished=time.time())
        with self.env.lock:
            self.env.statuses[name] = status
        self._event("pipeline.job.finished", job=name, status=status)

    def _check_cancel(self) -> None:
        if not self.env.cancelled.is_set() and self.store.cancel_requested(self.run_id):
            self.env.cancelled.set()
            self._event("pipeline.run.cancelling")

    def _final_status(self) -> str:
        values = set(self.env.statuses.values())
        if self.env.cancelled.is_set():
            return "cancelled"
        if values & {"failed", "interrupted"}:
            return "failed"
        return "success"


class Dispatcher:
    """Starts queued runs (oldest first), one at a time per concurrency group, at most
    ``runs`` at once; used by the daemon's runner component."""

    def __init__(self, store: RunStore, config: RunnerConfig, owner: str, runs: int = 2) -> None:
        self.store = store
        self.config = config
        self.owner = owner
        self.limit = runs
        self.active: dict[str, threading.Thread] = {}

    def recover(self) -> list[str]:
        """Runs left running by a runner that died are interrupted (their jobs can be
        re-run with ``pipeline rerun --failed``)."""
        return self.store.interrupt_orphans()

    def poll(self) -> list[str]:
        """Start what may start now; returns the ids started."""
        self.active = {k: t for k, t in self.active.items() if t.is_alive()}
        started: list[str] = []
        running_groups = {r["concurrency_group"] for r in
                          self.store.runs(statuses=["running"], limit=1000)
                          if r["concurrency_group"]}
        for run in reversed(self.store.runs(statuses=["queued"], limit=200)):
            if len(self.active) >= self.limit:
                break
            group = run["concurrency_group"]
            if group and group in running_groups:
                continue
            if self.store.claim(run["id"], self.owner):
                claimed = self.store.run(run["id"])
                thread = threading.Thread(target=self._execute, args=(claimed,),
                                          name=f"pipeline-run-{run['id']}", daemon=True)
                thread.start()
                self.active[run["id"]] = thread
                started.append(run["id"])
                if group:
                    running_groups.add(group)
        return started

    def _execute(self, run: dict[str, Any]) -> None:
        try:
            RunExecution(self.store, run, self.config).execute()
        except Exception as exc:  # a run that cannot start must not stay "running"
            self.store.update_run(run["id"], status="failed", error=str(exc),
                                  finished=time.time())
