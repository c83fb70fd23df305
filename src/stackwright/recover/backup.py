"""Running a backup policy (every source, with retries, hooks and retention) and listing
what a repository holds for it."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stackwright.errors import PermanentError, StackwrightError, TemporaryError
from stackwright.recover.capture import capture
from stackwright.recover.kinds import PolicySpec
from stackwright.recover.platform import Platform
from stackwright.recover.records import Run, now_iso
from stackwright.tools import restic
from stackwright.tools._proc import tail
from stackwright.tools.restic import BackupSummary, Repo, Snapshot


@dataclass(frozen=True)
class Captured:
    source: str
    summary: BackupSummary

    def to_json(self) -> dict[str, Any]:
        s = self.summary
        return {"source": self.source, "snapshot": s.snapshot_id, "bytes": s.total_bytes_processed,
                "added": s.data_added, "seconds": round(s.total_duration, 3)}


def _hook(argv: Sequence[str] | None, what: str, platform: Platform) -> None:
    if not argv:
        return
    platform.log(f"{what} hook: {argv[0]}")
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=600,
                          cwd=platform.engine.root, check=False)
    if done.returncode:
        raise PermanentError(f"the {what} hook {argv[0]} failed ({done.returncode}): "
                             f"{tail(done.stderr or done.stdout, 6)}",
                             hint=f"fix hooks.{what} of the policy")


def _capture_with_retries(platform: Platform, repo: Repo, policy: str, spec: PolicySpec,
                          source: Any, tags: list[str]) -> list[BackupSummary]:
    attempt = 0
    while True:
        try:
            return capture(platform, repo, source, tags, spec.timeout, spec.postgres,
                           spec.pauseWriters)
        except (TemporaryError, restic.ResticError, PermanentError) as exc:
            if attempt >= spec.retries or isinstance(exc, restic.RepositoryFullError):
                raise
            attempt += 1
            platform.log(f"{source.label}: {exc.message}; trying again ({attempt}/"
                         f"{spec.retries})")
            _unlock_stale(repo)
            time.sleep(min(2.0 * attempt, 10.0))


def _unlock_stale(repo: Repo) -> None:
    """Remove the locks of dead restic processes (a killed run's); live ones stay."""
    try:
        restic.unlock(repo)
    except (restic.ResticError, TemporaryError):
        pass


def run_policy(platform: Platform, name: str, *, scheduled_for: str | None = None,
               extra_tags: Sequence[str] = (), kind: str = "backup") -> Run:
    """Back up every source of policy ``name`` now; the recorded run (failed or not)."""
    spec = platform.policy(name)
    run = Run(kind=kind, name=name, scheduled_for=scheduled_for)
    platform.records.save(run)
    captured: list[Captured] = []
    try:
        repo = platform.repo(spec)
        tags = [*platform.tags(name), f"sw-run={run.id}", f"sw-kind={kind}", *extra_tags]
        sources = platform.sources(spec)
        if not sources:
            raise PermanentError(f"BackupPolicy/{name} has no sources",
                                 hint="list databases, caches, volumes or files in sources, "
                                      "or a selector that matches")
        _hook(spec.hooks.pre, "pre", platform)
        try:
            for source in sources:
                platform.log(f"backing up {source.label}")
                for summary in _capture_with_retries(platform, repo, name, spec, source,
                                                     tags):
                    captured.append(Captured(source.label, summary))
                    platform.log(f"  snapshot {summary.snapshot_id}: "
                                 f"{summary.total_bytes_processed} bytes, "
                                 f"{summary.data_added} added")
        finally:
            _hook(spec.hooks.post, "post", platform)
        run.status = "succeeded"
    except StackwrightError as exc:
        run.status, run.reason = "failed", str(exc)
    run.finished_at = now_iso()
    run.details = {"snapshots": [c.to_json() for c in captured],
                   "bytes": sum(c.summary.total_bytes_processed for c in captured),
                   "added": sum(c.summary.data_added for c in captured)}
    platform.records.save(run)
    return run


def ship_wal(platform: Platform, name: str, *, scheduled_for: str | None = None) -> Run:
    """Ship the WAL archived since the last shipment of each database of a ``pitr`` policy
    into its repository; the recorded run (``details.shipped``: the snapshots)."""
    from stackwright.recover import pitr

    spec = platform.policy(name)
    run = Run(kind="wal", name=name, scheduled_for=scheduled_for)
    shipped: list[dict[str, Any]] = []
    try:
        if spec.postgres != "pitr":
            raise PermanentError(f"BackupPolicy/{name} ships no WAL: it is not postgres: pitr")
        repo = platform.repo(spec)
        last = _last_shipped(platform, name)
        tags = [*platform.tags(name), f"sw-run={run.id}", "sw-kind=backup"]
        for source in [s for s in platform.sources(spec) if s.kind == "Database"]:
            done = pitr.ship(platform, repo, source, tags, spec.timeout, last.get(source.label))
            if done is not None:
                summary, segment = done
                shipped.append({"source": source.label, "snapshot": summary.snapshot_id,
                                "segment": segment, "added": summary.data_added})
                platform.log(f"{source.label}: WAL up to {segment} shipped")
        run.status = "succeeded"
    except StackwrightError as exc:
        run.status, run.reason = "failed", str(exc)
    run.finished_at = now_iso()
    run.details = {"shipped": shipped, "segments": {**_last_shipped(platform, name), **{
        s["source"]: s["segment"] for s in shipped}}}
    platform.records.save(run)
    return run


def _last_shipped(platform: Platform, name: str) -> dict[str, str]:
    """The newest segment shipped so far per source (from the last successful ``wal`` run)."""
    for run in platform.records.list("wal", name, limit=20):
        if run.status == "succeeded" and "segments" in run.details:
            return dict(run.details["segments"])
    return {}


def apply_retention(platform: Platform, name: str) -> Run:
    """``restic forget --prune`` with the policy's ``keep*``, per source."""
    spec = platform.policy(name)
    run = Run(kind="retention", name=name)
    keep = spec.retention.keep()
    try:
        if not keep:
            run.status, run.details = "succeeded", {"removed": [], "note": "no retention set"}
        else:
            repo = platform.repo(spec)
            removed = restic.forget_keep(repo, keep, platform.tags(name))
            run.status, run.details = "succeeded", {"removed": removed, "keep": keep}
    except StackwrightError as exc:
        run.status, run.reason = "failed", str(exc)
    run.finished_at = now_iso()
    platform.records.save(run)
    return run


def policy_snapshots(platform: Platform, name: str, repo: Repo | None = None) -> list[Snapshot]:
    repo = repo or platform.repo(platform.policy(name))
    return sorted(restic.snapshots(repo, [",".join(platform.tags(name))]),
                  key=lambda s: s.time)


def listing(platform: Platform, name: str) -> list[dict[str, Any]]:
    """Snapshots of a policy, newest last, with what the backup runs recorded of them."""
    sizes: dict[str, dict[str, Any]] = {}
    runs = [*platform.records.list("backup", name, limit=10000),
            *platform.records.list("safety", name, limit=10000)]
    for run in runs:
        for snap in run.details.get("snapshots", []):
            sizes[str(snap["snapshot"])] = snap
    rows = []
    for snap in policy_snapshots(platform, name):
        known = sizes.get(snap.id) or sizes.get(snap.short_id) or {}
        size, added = known.get("bytes"), known.get("added")
        rows.append({"id": snap.short_id, "time": snap.time, "policy": name,
                     "source": snap.tag("sw-source"), "type": snap.tag("sw-type"),
                     "run": snap.tag("sw-run"), "safety": "sw-safety" in snap.tags,
                     "size": size, "added": added,
                     "dedup": round(size / max(added, 1), 2) if size is not None
                     and added is not None else None})
    return rows
