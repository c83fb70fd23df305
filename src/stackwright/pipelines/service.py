"""What the CLI, the API and the daemon's runner do with pipelines: start a run for a ref,
re-run, cancel, approve, find the declared pipelines. One place, so they all agree."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackwright.errors import StackwrightError, StateError
from stackwright.pipelines.dag import expand
from stackwright.pipelines.expressions import Context
from stackwright.pipelines.kind import PipelineSpec
from stackwright.pipelines.loader import LoadedPipeline
from stackwright.pipelines.model import PipelineDef
from stackwright.pipelines.runner import RunExecution, RunnerConfig
from stackwright.pipelines.sources import load_declared
from stackwright.pipelines.steps import repo_address
from stackwright.pipelines.store import RunStore, owner_id
from stackwright.tools.git import Git

if TYPE_CHECKING:
    from stackwright.core.engine import Engine
    from stackwright.pipelines.approvals import Approver


class PipelineError(StackwrightError):
    """A pipeline that cannot be run, re-run, cancelled or approved as asked."""


class PipelineService:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @cached_property
    def store(self) -> RunStore:
        return RunStore.open(self.engine.state_url, self.engine.name, self.engine.environment)

    @property
    def project_dir(self) -> Path:
        return self.engine.root

    def declared(self, runnable: bool = False) -> dict[str, PipelineSpec]:
        """The spec's Pipelines; ``runnable``: those this environment's runner runs."""
        from stackwright.pipelines.kind import runner_environment

        found = {a.name: PipelineSpec.model_validate(dict(d.spec))
                 for a, d in self.engine.project.declared.items() if a.kind == "Pipeline"}
        if runnable:
            here = self.engine.environment
            found = {n: s for n, s in found.items()
                     if runner_environment(self.project_dir, s) == here}
        return found

    def spec(self, name: str) -> PipelineSpec:
        declared = self.declared()
        if name not in declared:
            from stackwright.registry import did_you_mean

            raise PipelineError(f"no Pipeline {name!r} in the spec",
                                hint=did_you_mean(name, list(declared)) or
                                f"declared: {', '.join(declared) or 'none'}")
        return declared[name]

    def runner_config(self, on_event: Callable[[str, Mapping[str, Any]], None] | None = None
                      ) -> RunnerConfig:
        from stackwright.local import podman_for

        ctx = self.engine.driver_context()
        return RunnerConfig(self.project_dir, self.engine.name, self.engine.environment,
                            podman_for(ctx), read_secret=self._secret_reader(),
                            on_event=on_event)

    def _secret_reader(self) -> Callable[[str], str]:
        def read(ref: str) -> str:
            from stackwright.secure.vault import client_for

            path, _, key = ref.partition("#")
            client = client_for(self.project_dir, self.engine.environment,
                                self.engine.config.settings)
            try:
                data = client.call("GET", f"secret/data/{path}")["data"]["data"]
            finally:
                client.close()
            if key not in data:
                raise PipelineError(f"secret {path} has no key {key!r}",
                                    hint=f"keys: {', '.join(sorted(data))}")
            return str(data[key])

        return read

    # -- starting runs ---------------------------------------------------------------------
    def resolve_ref(self, spec: PipelineSpec, ref: str | None) -> tuple[str, str]:
        if spec.repo is None:
            return ref or "manual", ""
        return Git().resolve(repo_address(spec.repo, self.project_dir), ref or spec.branch)

    def start(self, name: str, *, ref: str | None = None, sha: str | None = None,
              trigger: str = "manual") -> dict[str, Any]:
        """A queued run of ``name`` at ``ref``, its definition read at that commit."""
        spec = self.spec(name)
        if sha is None:
            ref, sha = self.resolve_ref(spec, ref)
        ref = ref or spec.branch
        if ref and not ref.startswith("refs/") and spec.repo is not None:
            ref = f"refs/heads/{ref}"
        loaded = load_declared(self.project_dir, self.engine.environment, name, spec,
                               sha or None)
        return self._queue(loaded, trigger=trigger, ref=ref or "", sha=sha or "")

    def _queue(self, loaded: LoadedPipeline, *, trigger: str, ref: str, sha: str,
               rerun_of: str | None = None, kept: Mapping[str, Any] | None = None
               ) -> dict[str, Any]:
        definition = loaded.definition
        group = self._group(loaded.name, definition, ref)
        if group and definition.concurrency and definition.concurrency.cancelInProgress:
            for other in self.store.runs(statuses=["queued", "running"], limit=1000):
                if other["concurrency_group"] == group:
                    self.cancel(other["id"])
        return self.store.create_run(
            loaded.name, trigger=trigger, ref=ref, sha=sha,
            definition=definition.model_dump(mode="json", by_alias=True, exclude_unset=True),
            source=loaded.file, group=group, jobs=expand(definition), rerun_of=rerun_of,
            kept=kept)

    @staticmethod
    def _group(name: str, definition: PipelineDef, ref: str) -> str | None:
        if definition.concurrency is None:
            return None
        branch = ref.removeprefix("refs/heads/")
        context = Context({"ref": ref, "branch": branch, "pipeline": name})
        return context.render(definition.concurrency.group)

    def rerun(self, run_ref: str, *, failed_only: bool = False) -> dict[str, Any]:
        """A new run of the same commit and definition; with ``failed_only`` the jobs that
        passed are kept as they were and only the others run again."""
        old = self.store.run(run_ref)
        if old["status"] in ("queued", "running"):
            raise PipelineError(f"run {old['id']} is still {old['status']}",
                                hint="wait for it or cancel it first")
        definition = PipelineDef.model_validate_json(old["definition"])
        kept: dict[str, Any] = {}
        if failed_only:
            kept = {j["name"]: j for j in self.store.jobs(old["id"]) if j["status"] == "success"}
        loaded = LoadedPipeline(old["pipeline"], definition, old["source"])
        return self._queue(loaded, trigger="rerun", ref=old["ref"], sha=old["sha"],
                           rerun_of=old["id"], kept=kept)

    # -- running, cancelling, approving ----------------------------------------------------
    def execute(self, run_id: str, on_event: Callable[[str, Mapping[str, Any]], None] | None
                = None) -> str:
        """Run a queued run in this process (no daemon); returns its final status."""
        if not self.store.claim(run_id, owner_id()):
            raise PipelineError(f"run {run_id} was taken by another runner",
                                hint="stackwright pipeline logs RUN --follow")
        run = self.store.run(run_id)
        return RunExecution(self.store, run, self.runner_config(on_event)).execute()

    def cancel(self, run_ref: str) -> dict[str, Any]:
        run = self.store.run(run_ref)
        if run["status"] not in ("queued", "running"):
            raise PipelineError(f"run {run['id']} already ended ({run['status']})")
        self.store.request_cancel(run["id"])
        return self.store.run(run["id"])

    def approve(self, run_ref: str, job: str | None, approver: Approver) -> list[str]:
        """Approve the run's waiting jobs (or ``job``): every one is checked before any is
        approved, then each is recorded on the job and in the audit log."""
        from stackwright.pipelines.approvals import check

        run = self.store.run(run_ref)
        waiting = [j for j in self.store.jobs(run["id"]) if j["status"] == "waiting"
                   and (job is None or j["name"] == job)]
        if not waiting:
            raise PipelineError(f"no job of run {run['id']} waits for approval"
                                + (f" named {job!r}" if job else ""),
                                hint="stackwright pipeline show RUN lists its jobs")
        definition = PipelineDef.model_validate_json(run["definition"])
        settings = dict(self.engine.config.settings)
        roles = {}
        for row in waiting:
            environment = row["environment"] or ""
            protection = definition.environments.get(environment)
            roles[row["name"]] = check(approver, row["name"], environment, settings,
                                       protection.approvers if protection else [])
        for row in waiting:
            self.store.approve(run["id"], row["name"], approver.name)
            self._audit(approver.actor, "pipeline.approve", row["environment"] or "", {
                "run": run["id"], "pipeline": run["pipeline"], "number": run["number"],
                "job": row["name"], "environment": row["environment"],
                "role": roles[row["name"]], "approver": approver.name})
        return [r["name"] for r in waiting]

    def _audit(self, actor: str, action: str, environment: str, data: dict[str, Any]) -> None:
        from stackwright.core.state.records import AuditEvent

        self.engine.store.audit_append(AuditEvent(actor=actor, action=action,
                                                  project=self.engine.name,
                                                  env=environment, data=data))

    def wait(self, run_id: str, timeout: float = 3600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.store.run(run_id)
            if run["status"] not in ("queued", "running"):
                return run
            time.sleep(0.3)
        raise StateError(f"run {run_id} did not finish in {timeout:g}s")
