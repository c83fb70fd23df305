"""GitOps mode: the daemon watches a git repository holding the spec, plans every new commit,
applies it on its own in environments configured for that (``auto``) and, in the others
(``approve``), keeps the plan waiting until an ``operator`` of the environment approves it.
Drift is checked on a schedule and reported, or corrected when configured.

Settings, in the project's ``stackwright.yaml`` (the daemon's environment picks its mode)::

    settings:
      gitops:
        repo: https://git.example/platform.git   # a local path or any URL git understands
        branch: main
        path: .                # the project directory inside the repository
        interval: 30           # seconds between polls
        environments: {dev: auto, prod: approve}
        drift: {interval: 300, correct: false}

Each commit is checked out into one working tree (``.stackwright/run/<env>/gitops/tree``), so
relative paths in the spec stay put from commit to commit; it is planned there against the
daemon's state database, the plan is saved (encrypted, as ``POST /api/v1/plans`` does) and
applied exactly as saved, as an operation of the API (``/api/v1/operations``) whose actor, in
state history and the audit log, is ``gitops@<commit>``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackwright.errors import StackwrightError

if TYPE_CHECKING:
    from stackwright.core.engine import Engine
    from stackwright.server.app import PlatformContext
    from stackwright.server.operations import Operation

KEEP_RUNS = 50
MODES = ("auto", "approve")


class GitOpsSettingsError(StackwrightError):
    """``settings.gitops`` in stackwright.yaml is not usable."""


@dataclass(frozen=True)
class GitOpsSettings:
    repo: str
    branch: str = "main"
    path: str = "."
    interval: float = 30.0
    mode: str | None = None  # this daemon's environment: auto, approve, or None (not watched)
    drift_interval: float = 300.0
    drift_correct: bool = False

    @classmethod
    def read(cls, settings: Mapping[str, Any], environment: str) -> GitOpsSettings | None:
        """``settings.gitops`` for ``environment``; None when GitOps is not configured."""
        doc = settings.get("gitops")
        if doc is None:
            return None
        if not isinstance(doc, dict):
            _bad("", doc, "a mapping", "gitops: {repo: ../platform.git}")
        repo = doc.get("repo")
        if not isinstance(repo, str) or not repo:
            _bad(".repo", repo, "a repository path or URL", "repo: ../platform.git")
        envs = doc.get("environments", {})
        if not isinstance(envs, dict) or any(m not in MODES for m in envs.values()):
            _bad(".environments", envs, "a mapping of environment to auto or approve",
                 "environments: {dev: auto, prod: approve}")
        drift = doc.get("drift", {})
        if not isinstance(drift, dict):
            _bad(".drift", drift, "a mapping", "drift: {interval: 300, correct: false}")
        correct = drift.get("correct", False)
        if not isinstance(correct, bool):
            _bad(".drift.correct", correct, "true or false", "correct: true")
        return cls(repo=repo, branch=_text(doc, "branch", "main"), path=_text(doc, "path", "."),
                   interval=_seconds(doc, "interval", 30.0, ""),
                   mode=envs.get(environment),
                   drift_interval=_seconds(drift, "interval", 300.0, ".drift"),
                   drift_correct=correct)

    def repo_for(self, root: Path) -> str:
        """The repository as git is given it: a relative local path is the project's."""
        if "://" in self.repo or self.repo.startswith("git@") or Path(self.repo).is_absolute():
            return self.repo
        return str((root / self.repo).resolve())


def _bad(field: str, value: Any, expected: str, example: str) -> None:
    raise GitOpsSettingsError(f"stackwright.yaml: settings.gitops{field}: {value!r} is not "
                              f"{expected}", hint=f"for example `{example}`")


def _text(doc: dict[str, Any], key: str, default: str) -> str:
    value = doc.get(key, default)
    if not isinstance(value, str) or not value:
        _bad(f".{key}", value, "a non-empty string", f"{key}: {default}")
    return str(value)


def _seconds(doc: dict[str, Any], key: str, default: float, where: str) -> float:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        _bad(f"{where}.{key}", value, "a number of seconds above 0", f"{key}: {default:g}")
    return float(value)


def actor_for(sha: str) -> str:
    return f"gitops@{sha[:12]}"


class GitOps:
    """The watcher: a daemon component (``stackwright.components``) with a thread that polls."""

    name = "gitops"

    def __init__(self, ctx: PlatformContext, settings: GitOpsSettings) -> None:
        from stackwright.server.rundir import RunDir
        from stackwright.tools.git import Git

        self.ctx = ctx
        self.settings = settings
        self.repo = settings.repo_for(ctx.engine.root)
        self.dir = RunDir.of(ctx.engine.root, ctx.engine.environment).root / "gitops"
        self.git = Git(timeout=120)
        self.lock = threading.RLock()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="gitops", daemon=True)
        self.runs: list[dict[str, Any]] = []
        self.seen: str | None = None
        self.drift: dict[str, Any] | None = None
        self.error: str | None = None
        self.polled_at: float | None = None
        self._drift_due = 0.0
        self._load()

    # -- component --------------------------------------------------------------------------
    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._drift_due = time.time() + self.settings.drift_interval
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        self.thread.join(timeout=30)

    def status(self) -> dict[str, Any]:
        self._settle(start=False)  # an apply that ended since the last poll shows as ended
        with self.lock:
            waiting = [r["commit"] for r in self.runs if r["status"] == "waiting"]
            return {"state": "running" if self.thread.is_alive() else "stopped",
                    "repo": self.settings.repo, "branch": self.settings.branch,
                    "mode": self.settings.mode or "off", "commit": self.seen,
                    "polled_at": self.polled_at, "error": self.error, "waiting": waiting,
                    "last_run": self._public(self.runs[0]) if self.runs else None,
                    "drift": self.drift}

    # -- the loop ---------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self.stopping.is_set():
            self.tick()
            self.wake.wait(self.settings.interval)
            self.wake.clear()

    def sync(self) -> None:
        """Poll now (``POST /api/v1/gitops/sync``)."""
        self.wake.set()

    def tick(self) -> None:
        """One poll: plan a new commit, settle finished applies, check drift when due."""
        try:
            _ref, sha = self.git.resolve(self.repo, self.settings.branch)
            with self.lock:
                self.polled_at, self.error = time.time(), None
            if sha != self.seen and self.settings.mode is not None:
                self._new_commit(sha)
            self._settle()
            if time.time() >= self._drift_due and self.settings.mode is not None:
                self._drift_due = time.time() + self.settings.drift_interval
                self.check_drift()
        except Exception as exc:  # reported in status and the log; the next poll retries
            with self.lock:
                self.error = str(exc)
            self._log("gitops.failed", level="error", error=str(exc))
        finally:
            self._save()

    def _new_commit(self, sha: str) -> None:
        tree = self.dir / "tree"
        self.git.checkout(self.repo, sha, tree)
        message = self.git.commit_message(tree)
        run: dict[str, Any] = {"commit": sha, "message": message, "time": time.time(),
                               "mode": self.settings.mode, "status": "planning",
                               "operation": None, "approved_by": None, "error": None}
        with self.lock:
            self.seen = sha
            for older in self.runs:
                if older["status"] in ("waiting", "pending"):
                    older["status"] = "superseded"
            self.runs.insert(0, run)
            del self.runs[KEEP_RUNS:]
        self._log("gitops.commit", commit=sha, message=message)
        self._plan(run)

    def _plan(self, run: dict[str, Any]) -> None:
        from stackwright.core.planfile import plan_to_json, write_plan

        eng = self.engine()
        try:
            made = eng.plan()
            write_plan(made, self._plan_file(run["commit"]), eng.cipher)
            doc = plan_to_json(made)
        except Exception as exc:  # a spec error, or a driver failing to read: reported
            run.update(status="failed", error=_error_text(exc))
            self._log("gitops.plan_failed", level="error", commit=run["commit"],
                      error=run["error"])
            return
        finally:
            eng.close()
        run.update(plan=doc, summary=doc.get("summary"))
        if not doc.get("has_changes"):
            run["status"] = "in-sync"
        elif self.settings.mode == "auto":
            run["status"] = "pending"
            self._apply(run)
        else:
            run["status"] = "waiting"
            self._log("gitops.waiting", commit=run["commit"])

    def approve(self, sha: str, who: str) -> dict[str, Any]:
        """Apply the waiting plan of ``sha`` (an operator approved it)."""
        with self.lock:
            run = self._run(sha)
            if run is None:
                raise LookupError(f"no GitOps run for commit {sha}")
            if run["status"] != "waiting":
                raise ValueError(f"commit {run['commit'][:12]} is {run['status']}, "
                                 "not waiting for an approval")
            run["approved_by"] = who
            self._audit(who, "gitops.approved", {"commit": run["commit"]})
            if not self._apply(run):
                run["approved_by"] = None
                raise ValueError("an operation runs already; approve again when it is done")
            self._save()
            return self._public(run)

    def _apply(self, run: dict[str, Any], *, plan: bool = True) -> bool:
        """Start the apply of ``run`` as an API operation; False while another one runs."""
        from stackwright.server.operations import cli_apply_runner

        ops = self.ctx.operations
        if ops is None or ops.running() is not None:
            return False
        eng = self.ctx.engine
        runner = cli_apply_runner(self.project_dir, eng.environment, eng.state_url,
                                  destroy=False,
                                  plan_file=self._plan_file(run["commit"]) if plan else None,
                                  parallelism=10, lock_timeout=30.0)
        op: Operation = ops.start("apply", actor_for(run["commit"]), "text", runner)
        run.update(status="applying", operation=op.id)
        self._log("gitops.apply", commit=run["commit"], operation=op.id)
        return True

    def _settle(self, start: bool = True) -> None:
        """Record finished applies; start a pending auto apply once nothing else runs."""
        with self.lock:
            for run in self.runs:
                if start and run["status"] == "pending" and run["commit"] == self.seen:
                    self._apply(run)
                elif run["status"] == "applying":
                    self._finished(run)
            if self.drift and self.drift.get("status") == "correcting":
                self._finished(self.drift)
                if self.drift["status"] == "applied":
                    self.drift["status"] = "corrected"

    def _finished(self, run: dict[str, Any]) -> None:
        ops = self.ctx.operations
        op = ops.get(run["operation"]) if ops is not None else None
        if op is None or op.status == "running":
            return
        run["status"] = "applied" if op.status == "succeeded" else "failed"
        run["exit_code"] = op.exit_code
        if op.exit_code:
            tail = "".join(e.get("text", "") for e in op.events if e["type"] == "output")
            run["error"] = tail.strip()[-600:]
        self._log("gitops.applied", commit=run.get("commit"), status=run["status"])

    # -- drift ------------------------------------------------------------------------------
    def check_drift(self) -> dict[str, Any]:
        """Compare what runs with what the last applied commit recorded; correct it when
        ``drift.correct`` is on."""
        from stackwright.core.planfile import change_to_json

        commit = self._applied_commit()
        if commit is None:
            return {}
        eng = self.engine()
        try:
            changes = eng.drift()
        finally:
            eng.close()
        report: dict[str, Any] = {"time": time.time(), "commit": commit,
                                  "drifted": bool(changes), "operation": None,
                                  "changes": [change_to_json(c) for c in changes],
                                  "status": "drifted" if changes else "clean"}
        if changes:
            self._log("gitops.drift", commit=commit, changes=len(changes))
            self._audit(actor_for(commit), "gitops.drift", {
                "commit": commit, "addresses": [c["address"] for c in report["changes"]]})
            if not self.settings.drift_correct:
                pass
            elif commit != self.seen:  # the tree holds a newer commit, not yet applied
                report["status"] = "drifted (not corrected: a newer commit is not applied)"
            elif self._apply(report, plan=False):
                report["status"] = "correcting"
        with self.lock:
            self.drift = report
        return report

    def _applied_commit(self) -> str | None:
        with self.lock:
            found = next((r for r in self.runs if r["status"] in ("applied", "in-sync")), None)
            return None if found is None else str(found["commit"])

    # -- helpers ----------------------------------------------------------------------------
    @property
    def project_dir(self) -> Path:
        return (self.dir / "tree" / self.settings.path).resolve()

    def engine(self) -> Engine:
        from stackwright.core.engine import Engine

        daemon = self.ctx.engine
        return Engine(self.project_dir, environment=daemon.environment,
                      state_url=daemon.state_url)

    def _plan_file(self, sha: str) -> Path:
        path = self.dir / "plans"
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path / f"{sha}.plan"

    def _run(self, sha: str) -> dict[str, Any] | None:
        matches = [r for r in self.runs if r["commit"].startswith(sha.lower())]
        return matches[0] if len(matches) == 1 or (matches and len(sha) == 40) else None

    def run_doc(self, sha: str) -> dict[str, Any] | None:
        with self.lock:
            run = self._run(sha)
            return None if run is None else dict(run)

    def listing(self) -> list[dict[str, Any]]:
        self._settle(start=False)
        with self.lock:
            return [self._public(r) for r in self.runs]

    @staticmethod
    def _public(run: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in run.items() if k != "plan"}

    def _log(self, event: str, level: str = "info", **fields: Any) -> None:
        if self.ctx.log is not None:
            self.ctx.log(event, level=level, **fields)

    def _audit(self, who: str, action: str, data: dict[str, Any]) -> None:
        from stackwright.server.app import audit

        audit(self.ctx, who, action, data)

    @property
    def _state_file(self) -> Path:
        return self.dir / "state.json"

    def _load(self) -> None:
        try:
            doc = json.loads(self._state_file.read_text())
        except (OSError, ValueError):
            return
        self.seen, self.runs, self.drift = doc.get("seen"), doc.get("runs", []), doc.get("drift")
        for run in self.runs:  # an apply that was running when the daemon stopped
            if run["status"] in ("applying", "planning"):
                run.update(status="failed", error="the daemon stopped during the run; see "
                                                  "`stackwright state history`")

    def _save(self) -> None:
        with self.lock:
            doc = {"seen": self.seen, "runs": self.runs, "drift": self.drift}
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = self._state_file.with_name(".state.json.tmp")
            tmp.write_text(json.dumps(doc, default=str))
            tmp.replace(self._state_file)


def _error_text(exc: Exception) -> str:
    from stackwright.errors import SpecErrors

    if not isinstance(exc, StackwrightError):
        return f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SpecErrors):
        return "\n".join([exc.message, *(str(e) for e in exc.errors)])
    hint = getattr(exc, "hint", None)
    return str(exc) + (f" ({hint})" if hint else "")


def gitops_component(ctx: PlatformContext) -> GitOps | None:
    """The ``stackwright.components`` factory: a watcher when ``settings.gitops`` is set."""
    settings = GitOpsSettings.read(ctx.engine.config.settings, ctx.engine.environment)
    return None if settings is None else GitOps(ctx, settings)
