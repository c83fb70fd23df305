"""One job of a run: its workspace, container (or host shell), steps, retries, timeout,
cache, artifacts, secrets and test report; every log line masked and written to its file."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackwright.errors import StackwrightError
from stackwright.pipelines import steps as builtin_steps
from stackwright.pipelines.container_steps import LOOP, MOUNT, StepChannel
from stackwright.pipelines.dag import PlannedJob
from stackwright.pipelines.expressions import Context
from stackwright.pipelines.model import Job, PipelineDef, Step
from stackwright.pipelines.procs import stream_stoppable
from stackwright.pipelines.store import RunStore
from stackwright.pipelines.workspace import (
    CacheStore,
    Masker,
    hash_files,
    junit_summary,
    pack,
    unpack,
)
from stackwright.tools.podman import ContainerSpec, Podman, VolumeMount, run_args

WORKDIR = "/workspace"
SecretReader = Callable[[str], str]


@dataclass
class RunEnv:
    """What every job of one run shares."""

    store: RunStore
    run: dict[str, Any]
    definition: PipelineDef
    jobs: list[PlannedJob]
    root: Path  # .stackwright/pipelines
    project_dir: Path
    podman: Podman
    labels: Mapping[str, str]
    read_secret: SecretReader | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    masker: Masker = field(default_factory=Masker)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)  # source job -> outputs
    statuses: dict[str, str] = field(default_factory=dict)  # job name -> status
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def run_dir(self) -> Path:
        return self.root / "runs" / str(self.run["id"])

    def log_file(self, job: str) -> Path:
        return self.run_dir / "logs" / f"{job}.log"

    def artifact_file(self, job: str) -> Path:
        return self.run_dir / "artifacts" / f"{job}.tar"

    def context(self, planned: PlannedJob, env: Mapping[str, str], workspace: Path) -> Context:
        run = self.run
        needs = {n: {"outputs": self.outputs.get(n, {}), "result": self._result(n)}
                 for n in planned.job.needs}
        values = {"matrix": dict(planned.matrix), "env": dict(env), "needs": needs,
                  "ref": run["ref"], "sha": run["sha"], "branch": _branch(run["ref"]),
                  "tag": _tag(run["ref"]), "trigger": run["trigger"], "pipeline": run["pipeline"],
                  "run": {"id": run["id"], "number": run["number"]}, "job": planned.name}
        failed = any(self.statuses.get(n) in ("failed", "cancelled", "interrupted")
                     for n in planned.needs)
        return Context(values, {
            "hashFiles": lambda *p: hash_files(workspace, *map(str, p)),
            "success": lambda: not failed and not self.cancelled.is_set(),
            "failure": lambda: failed, "always": lambda: True,
            "cancelled": self.cancelled.is_set})

    def _result(self, source: str) -> str:
        mine = [s for j, s in self.statuses.items()
                if any(p.name == j and p.source == source for p in self.jobs)]
        return "success" if mine and all(s == "success" for s in mine) else (
            mine[-1] if mine else "pending")


def _branch(ref: str) -> str:
    return ref.removeprefix("refs/heads/") if not ref.startswith("refs/tags/") else ""


def _tag(ref: str) -> str:
    return ref.removeprefix("refs/tags/") if ref.startswith("refs/tags/") else ""


class StepFailed(StackwrightError):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code_ = exit_code


class JobExecution:
    """Runs one planned job to a final status: success, failed or cancelled."""

    def __init__(self, env: RunEnv, planned: PlannedJob) -> None:
        self.env = env
        self.planned = planned
        self.job: Job = planned.job
        self.name = planned.name
        self.workspace = env.run_dir / "jobs" / self.name / "ws"
        self.private = env.run_dir / "jobs" / self.name / "private"
        self.container = ""
        self.channel: StepChannel | None = None
        self.deadline = 0.0
        self.outputs: dict[str, str] = {}
        self.extra_artifacts: list[str] = []  # paths steps asked to keep (keep_artifact)
        self._log = None  # type: Any

    # -- logging ---------------------------------------------------------------------------
    def log(self, line: str) -> None:
        masked = self.env.masker(line)
        stamp = time.strftime("%H:%M:%S")
        assert self._log is not None
        self._log.write(f"{stamp} {masked}\n")
        self._log.flush()

    # -- the job ---------------------------------------------------------------------------
    def run(self) -> str:
        path = self.env.log_file(self.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", buffering=1) as self._log:
            return self._run_attempts()

    def _run_attempts(self) -> str:
        status = "failed"
        store, run_id = self.env.store, self.env.run["id"]
        for attempt in range(1, self.job.retry + 2):
            store.update_job(run_id, self.name, status="running", attempt=attempt,
                             started=time.time(), error=None)
            self.log(f"[stackwright] job {self.name} attempt {attempt} "
                     f"({'host' if self.job.host else self.job.image})")
            status, error, code = self._attempt()
            store.update_job(run_id, self.name, status=status, error=error, exit_code=code,
                             finished=time.time(), outputs=_json(self.outputs))
            if status != "failed" or self.env.cancelled.is_set():
                break
            if attempt <= self.job.retry:
                self.log(f"[stackwright] attempt {attempt} failed ({error}); retrying")
        self.log(f"[stackwright] job {self.name}: {status}")
        return status

    def _attempt(self) -> tuple[str, str | None, int | None]:
        self.deadline = time.monotonic() + self.job.timeout
        try:
            self._prepare()
            self._steps()
            self._finish()
        except StepFailed as exc:
            if self.env.cancelled.is_set():
                return "cancelled", "cancelled", exc.exit_code_
            return "failed", exc.message, exc.exit_code_
        except (StackwrightError, ValueError) as exc:
            self.log(f"[stackwright] error: {exc}")
            return ("cancelled", "cancelled", None) if self.env.cancelled.is_set() \
                else ("failed", str(exc), None)
        finally:
            self._teardown()
        return "success", None, 0

    def stop_reason(self) -> str | None:
        if self.env.cancelled.is_set():
            return "the run was cancelled"
        if time.monotonic() > self.deadline:
            return f"the job ran past its timeout of {self.job.timeout:g}s"
        return None

    # -- preparation -----------------------------------------------------------------------
    def _prepare(self) -> None:
        shutil.rmtree(self.workspace.parent, ignore_errors=True)
        self.workspace.mkdir(parents=True)
        self.private.mkdir(mode=0o700)
        (self.workspace / ".stackwright-output").touch()
        self.base_env = self._environment()
        self.ctx = self.env.context(self.planned, self.base_env, self.workspace)
        self._fetch_artifacts()
        self._write_secret_files()
        if not any(s.uses == "checkout" for s in self.job.steps):
            self._restore_cache()
        if not self.job.host:
            self._start_container()

    def _environment(self) -> dict[str, str]:
        run = self.env.run
        env = {"CI": "true", "STACKWRIGHT_RUN": run["id"], "STACKWRIGHT_PIPELINE": run["pipeline"],
               "STACKWRIGHT_REF": run["ref"], "STACKWRIGHT_SHA": run["sha"],
               "STACKWRIGHT_JOB": self.name,
               "STACKWRIGHT_OUTPUT": self._in_job(".stackwright-output")}
        env |= {f"MATRIX_{k.upper()}": str(v) for k, v in self.planned.matrix.items()}
        context = self.env.context(self.planned, env, self.workspace)
        for source in (self.env.definition.env, self.job.env):
            env |= {k: context.render(v) for k, v in source.items()}
        for name, ref in self.job.secrets.items():
            env[name] = self._secret(ref)
        return env

    def _secret(self, ref: str) -> str:
        if self.env.read_secret is None:
            raise StackwrightError(f"job {self.name} needs secret {ref} but the secrets store "
                                   "is not reachable", hint="start the daemon: stackwright up")
        value = self.env.read_secret(ref)
        self.env.masker.add([value])
        return value

    def _write_secret_files(self) -> None:
        for rel, ref in self.job.secretFiles.items():
            target = self.workspace / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(self._secret(ref))
            target.chmod(0o600)

    def _in_job(self, rel: str) -> str:
        return str(self.workspace / rel) if self.job.host else f"{WORKDIR}/{rel}"

    def _fetch_artifacts(self) -> None:
        for need in self.planned.needs:
            tarball = self.env.artifact_file(need)
            if tarball.is_file():
                count = unpack(tarball, self.workspace)
                self.log(f"[stackwright] artifacts of {need}: {count} file(s)")

    def _start_container(self) -> None:
        run = self.env.run
        self.container = f"sw-pl-{run['id']}-{self.name}"[:120]
        spec = ContainerSpec(
            name=self.container, image=str(self.job.image), command=("sh", "-c", LOOP),
            volumes=(VolumeMount(str(self.workspace.resolve()), WORKDIR),
                     VolumeMount(str(self.private.resolve()), MOUNT)),
            labels={**self.env.labels, "dev.stackwright.pipeline-run": run["id"]},
            workdir=WORKDIR, init=True)
        self.env.store.update_job(run["id"], self.name, container=self.container)
        args = run_args(spec)
        self.env.podman.call(["run", "-d", "--rm", *args[2:]], f"start job {self.name}")
        self.channel = StepChannel(self.env.podman, self.container, self.private)

    def _teardown(self) -> None:
        if self.container:
            if not self.channel or not self.channel.close():
                self._kill_container()
            self.container = ""
            self.channel = None
        shutil.rmtree(self.private, ignore_errors=True)
        for rel in self.job.secretFiles:  # never left behind in the workspace
            (self.workspace / rel).unlink(missing_ok=True)

    # -- steps -----------------------------------------------------------------------------
    def _steps(self) -> None:
        store, run_id = self.env.store, self.env.run["id"]
        for idx, step in enumerate(self.job.steps):
            title = step.title(idx)
            if not self.ctx.condition(step.if_):
                store.step(run_id, self.name, idx, name=title, status="skipped")
                continue
            store.step(run_id, self.name, idx, name=title, status="running",
                       started=time.time())
            self.log(f"[stackwright] step {idx + 1}: {title}")
            try:
                code = self._step(step)
            except (StackwrightError, ValueError) as exc:  # ValueError: an expression
                self.log(f"[stackwright] {exc}")
                code = 1
            status = "success" if code == 0 else "failed"
            store.step(run_id, self.name, idx, status=status, exit_code=code,
                       finished=time.time())
            if code != 0:
                raise StepFailed(f"step {title!r} exited with {code}", code)
            if step.uses == "checkout":
                self._restore_cache()
            self._read_outputs()

    def _step(self, step: Step) -> int:
        if step.uses is not None:
            return builtin_steps.run(step.uses, self._render(step.with_), self)
        script = self.ctx.render(step.run or "")
        env = {**self.base_env, **{k: self.ctx.render(v) for k, v in step.env.items()}}
        return self.shell(script, env)

    def _render(self, value: Any) -> Any:
        """Templates rendered in every string of a ``with`` tree."""
        if isinstance(value, str):
            return self.ctx.render(value)
        if isinstance(value, dict):
            return {k: self._render(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._render(v) for v in value]
        return value

    def shell(self, script: str, env: Mapping[str, str]) -> int:
        """Run a script with ``sh -e``, in the job's container or on the host."""
        if self.job.host:
            return stream_stoppable(["sh", "-e", "-c", script], self.log, stop=self.stop_reason,
                                    env={**os.environ, **env}, cwd=self.workspace)
        assert self.channel is not None
        return self.channel.run(script, env, self.log, self.stop_reason, self._kill_container)

    def _kill_container(self) -> None:
        self.env.podman.probe(["rm", "--force", "--time", "0", self.container])

    def _read_outputs(self) -> None:
        path = self.workspace / ".stackwright-output"
        for line in path.read_text().splitlines() if path.is_file() else []:
            key, sep, value = line.partition("=")
            if sep:
                self.set_output(key.strip(), value)

    def set_output(self, key: str, value: str) -> None:
        self.outputs[key] = value
        with self.env.lock:
            self.env.outputs.setdefault(self.planned.source, {})[key] = value

    # -- cache, artifacts, report ----------------------------------------------------------
    def _cache(self) -> CacheStore:
        return CacheStore(self.env.root / "cache" / self.env.run["pipeline"])

    def _restore_cache(self) -> None:
        cache = self.job.cache
        if cache is None:
            return
        self.cache_key = self.ctx.render(cache.key)
        restore = [self.ctx.render(k) for k in cache.restoreKeys]
        hit = self._cache().restore(self.cache_key, restore, self.workspace)
        self.cache_hit = hit
        text = "miss" if hit is None else ("hit" if hit.exact else f"partial hit {hit.key}")
        self.log(f"[stackwright] cache {self.cache_key}: {text}")
        self.env.store.update_job(self.env.run["id"], self.name,
                                  cache=_json({"key": self.cache_key, "result": text}))

    def _finish(self) -> None:
        if self.job.cache is not None and hasattr(self, "cache_key"):
            size = self._cache().save(self.cache_key, self.job.cache.paths, self.workspace)
            if size:
                self.log(f"[stackwright] cache {self.cache_key} saved ({size} bytes)")
        if self.job.artifacts is not None or self.extra_artifacts:
            size = self._pack_artifacts()
            if size:
                self.log(f"[stackwright] artifacts kept: {size} bytes")
        self.report_tests()

    def _pack_artifacts(self) -> int:
        paths = [*(self.job.artifacts.paths if self.job.artifacts else []),
                 *self.extra_artifacts]
        tarball = self.env.artifact_file(self.name)
        size = pack(self.workspace, paths, tarball)
        if size:
            self.env.store.add_artifact(self.env.run["id"], self.name, str(tarball), size,
                                        self.env.definition.retention_of(self.job))
        return size

    def keep_artifact(self, paths: list[str] | tuple[str, ...]) -> int:
        """Keep workspace ``paths`` with the job's artifacts now, so they stay even when the
        step that wrote them fails the job (a scan's SARIF); returns the tarball's size."""
        self.extra_artifacts += [p for p in paths if p not in self.extra_artifacts]
        return self._pack_artifacts()

    def report_tests(self, patterns: list[str] | None = None) -> dict[str, Any] | None:
        globs = patterns or (self.job.reports.junit if self.job.reports else [])
        summary = junit_summary(self.workspace, globs) if globs else None
        if summary is not None:
            self.env.store.update_job(self.env.run["id"], self.name, tests=_json(summary))
            self.log(f"[stackwright] tests: {summary['passed']} passed, "
                     f"{summary['failures']} failed, {summary['errors']} errors, "
                     f"{summary['skipped']} skipped")
        return summary


def _json(value: Any) -> str:
    import json

    return json.dumps(value)
