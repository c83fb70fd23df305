"""``restic check`` of a repository, recorded as a run."""

from __future__ import annotations

from stackwright.errors import StackwrightError
from stackwright.recover.kinds import RepositorySpec
from stackwright.recover.platform import Platform
from stackwright.recover.records import Run, now_iso
from stackwright.recover.repository import repo_for
from stackwright.tools import restic


def check_repository(platform: Platform, name: str, read_data_subset: str | None = None, *,
                     scheduled_for: str | None = None) -> Run:
    """Check the repository's structure (and ``read_data_subset`` of its data, or the
    spec's ``check.readDataSubset``); the recorded run."""
    run = Run(kind="check", name=name, scheduled_for=scheduled_for)
    try:
        record = platform.recorded("BackupRepository", name)
        spec = RepositorySpec.model_validate(dict(record.inputs))
        subset = read_data_subset or spec.check.readDataSubset
        repo = repo_for(platform.ctx(record.address), name, spec)
        platform.log(f"restic check {repo.location}" +
                     (f" --read-data-subset {subset}" if subset else ""))
        restic.unlock(repo)  # only stale locks (of killed runs) go; a live one fails the check
        restic.check(repo, subset)
        run.status, run.details = "succeeded", {"readDataSubset": subset}
    except StackwrightError as exc:
        run.status, run.reason = "failed", str(exc)
    run.finished_at = now_iso()
    platform.records.save(run)
    return run
