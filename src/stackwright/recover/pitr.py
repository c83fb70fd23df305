"""Point-in-time recovery for a managed PostgreSQL: ``pg_basebackup`` plus the archived WAL,
both in the repository; a restore replays the WAL into a scratch server up to a time.

The database archives its WAL into ``/data/wal`` on its volume (its ``settings``:
``archive_mode: "on"``, ``archive_command: "test ! -f /data/wal/%f && cp %p /data/wal/%f"``);
each backup run takes a base backup (tar, WAL included) streamed into restic, switches to a
new WAL segment, waits for it to be archived and backs up the archive directory. Between
runs, the ``backups`` controller ships the archive directory on the policy's
``walSchedule`` (:func:`ship`: only when a new segment was archived; restic adds only the
new segments), so the newest restorable time is that of the last shipped segment.

The spool is trimmed after each backup run, with PostgreSQL's own ``pg_archivecleanup``:
once the run's WAL snapshot holds every segment, the segments older than the one current
when its base backup began are removed from the volume (restoring that base needs none of
them; older bases find them in the snapshots taken before). Each WAL snapshot is tagged
with the oldest segment it holds (``sw-wal-first``) and each base backup with the segment
it starts from (``sw-wal-start``), so a restore picks a WAL snapshot that covers its base.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stackwright.errors import PermanentError, TemporaryError
from stackwright.local import podman_for
from stackwright.recover import scratch
from stackwright.recover.capture import volume_dir
from stackwright.recover.platform import Platform, Source
from stackwright.tools import restic
from stackwright.tools.restic import BackupSummary, Repo, Snapshot

WAL_DIR = "/data/wal"
_SEGMENT = re.compile(r"[0-9A-F]{24}")
_PGBIN = ('PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1); '
          'if [ -n "$PGBIN" ]; then PATH="$PGBIN:$PATH"; fi')


def _exec(platform: Platform, source: Source, command: str, user: str = "postgres"
          ) -> list[str]:
    assert source.record is not None
    podman = podman_for(platform.ctx(source.record.address))
    container = str(source.record.outputs["container"])
    return [podman.settings.binary, *podman.settings.extra_args, "exec", "--user", user,
            container, "sh", "-c", f"{_PGBIN}; {command}"]


def _sql(platform: Platform, source: Source, statement: str) -> str:
    argv = _exec(platform, source, f"psql -X -At -d postgres -c \"{statement}\"")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode:
        raise PermanentError(f"{source.label}: {statement}: {done.stderr.strip()[-300:]}")
    return done.stdout.strip()


def check_archiving(platform: Platform, source: Source) -> None:
    if _sql(platform, source, "SHOW archive_mode") != "on":
        raise PermanentError(
            f"{source.label}: point-in-time recovery needs WAL archiving",
            hint="set the Database's settings: {archive_mode: \"on\", archive_command: "
                 "\"test ! -f /data/wal/%f && cp %p /data/wal/%f\"} and apply")
    mkdir = _exec(platform, source, f"mkdir -p {WAL_DIR} && chown postgres:postgres {WAL_DIR}",
                  user="root")
    subprocess.run(mkdir, capture_output=True, timeout=60, check=True)


def capture(platform: Platform, repo: Repo, source: Source, tags: list[str],
            timeout: float) -> list[BackupSummary]:
    """A base backup, then the WAL archive up to now: two snapshots."""
    check_archiving(platform, source)
    start = _sql(platform, source, "SELECT pg_walfile_name(pg_current_wal_lsn())")
    base = _exec(platform, source, "pg_basebackup -D - -Ft -X fetch -c fast")
    first = restic.backup_stream(repo, base, f"{source.name}.base.tar",
                                 [*tags, "sw-type=basebackup", f"sw-wal-start={start}"],
                                 host=platform.host(), timeout=timeout)
    segment = _sql(platform, source, "SELECT pg_walfile_name(pg_switch_wal())")
    folder = volume_dir(platform, source) / "wal"
    deadline = time.monotonic() + 120
    while not (folder / segment).exists():
        if time.monotonic() > deadline:
            raise TemporaryError(f"{source.label}: WAL segment {segment} was not archived "
                                 "within 120s", hint="check archive_command", delay=30)
        time.sleep(0.2)
    wal = _backup_spool(platform, repo, folder, tags, timeout, newest_segment(folder))
    trim_spool(platform, source, start)
    return [first, wal]


def trim_spool(platform: Platform, source: Source, keep_from: str) -> None:
    """Remove the spool's segments older than ``keep_from`` (``pg_archivecleanup``: WAL
    segments and backup history files only; timeline history files stay)."""
    argv = _exec(platform, source, f"pg_archivecleanup {WAL_DIR} {keep_from}")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode:
        raise PermanentError(f"{source.label}: trimming the WAL spool failed: "
                             f"{done.stderr.strip()[-300:]}",
                             hint="this run's snapshots are stored; until a run trims "
                                  f"it, {WAL_DIR} on the volume keeps growing")


def covers(wal: Snapshot, base: Snapshot) -> bool:
    """Whether WAL snapshot ``wal`` holds the segments base backup ``base`` starts from
    (snapshots from before the spool was trimmed carry no tags, and hold them all). Segment
    names compare without their timeline (its first 8 characters), as pg_archivecleanup's."""
    first, start = wal.tag("sw-wal-first"), base.tag("sw-wal-start")
    return first is None or start is None or first[8:24] <= start[8:24]


def newest_segment(folder: Path) -> tuple[str, datetime] | None:
    """The newest archived WAL segment in the spool (its name and when it was archived)."""
    found = [(p.stat().st_mtime, p.name) for p in folder.iterdir()
             if p.is_file() and not p.name.endswith(".tmp")] if folder.is_dir() else []
    if not found:
        return None
    mtime, name = max(found)
    return name, datetime.fromtimestamp(mtime, UTC)


def oldest_segment(folder: Path) -> str | None:
    """The name of the oldest WAL segment in the spool (24 hexadecimal digits)."""
    names = [p.name for p in folder.iterdir() if _SEGMENT.fullmatch(p.name)] \
        if folder.is_dir() else []
    return min(names, key=lambda n: n[8:]) if names else None


def _backup_spool(platform: Platform, repo: Repo, folder: Path, tags: list[str],
                  timeout: float, newest: tuple[str, datetime] | None) -> BackupSummary:
    """The spool as a ``sw-type=wal`` snapshot, tagged with its newest segment's time
    (``sw-wal-at``: what a restore of it recovers up to; ``newest``, as the caller found it)
    and its oldest segment (``sw-wal-first``)."""
    at = [f"sw-wal-at={newest[1].isoformat()}", f"sw-wal-segment={newest[0]}"] if newest else []
    oldest = oldest_segment(folder)
    at += [f"sw-wal-first={oldest}"] if oldest else []
    return restic.backup_paths(repo, [Path(".")], [*tags, "sw-type=wal", *at],
                               host=platform.host(), cwd=folder, timeout=timeout)


def ship(platform: Platform, repo: Repo, source: Source, tags: list[str], timeout: float,
         after: str | None) -> tuple[BackupSummary, str] | None:
    """The WAL spool into the repository when a segment newer than ``after`` (a segment
    name) was archived since; the snapshot and that segment, or None."""
    folder = volume_dir(platform, source) / "wal"
    newest = newest_segment(folder)
    if newest is None or (after is not None and newest[0] <= after):
        return None
    return _backup_spool(platform, repo, folder, [*tags, f"sw-source={source.label}"],
                         timeout, newest), newest[0]


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    os.chmod(path, 0o600)


def restore_to(platform: Platform, repo: Repo, source: Source, base: Snapshot,
               wal: Snapshot, at: datetime | None) -> dict[str, Any]:
    """A scratch server from ``base``, the WAL of ``wal`` replayed up to ``at``."""
    pg = scratch.new_postgres_dir()
    try:
        pg.data.mkdir(mode=0o700)
        restic.dump_to(repo, base.id, base.paths[0], ["tar", "-x", "-C", str(pg.data)],
                       timeout=86400)
        walroot = pg.root / "wal"
        walroot.mkdir()
        restic.restore(repo, wal.id, walroot, timeout=86400)
        _prepare(pg, walroot, at)
        pg.start()
        _wait_promoted(pg)
    except BaseException:
        pg.stop()
        raise
    return {"pg": pg}


def _prepare(pg: scratch.ScratchPostgres, walroot: Path, at: datetime | None) -> None:
    _write(pg.data / "pg_hba.conf", "local all all trust\nhost all all 127.0.0.1/32 "
                                    "scram-sha-256\n")
    target = f"recovery_target_time = '{at.isoformat()}'\n" if at else ""
    with open(pg.data / "postgresql.auto.conf", "a") as out:
        out.write(f"restore_command = 'cp {walroot}/%f \"%p\"'\n{target}"
                  "recovery_target_action = 'promote'\narchive_mode = 'off'\n")
    (pg.data / "recovery.signal").touch()
    for stale in ("postmaster.pid", "postmaster.opts"):
        (pg.data / stale).unlink(missing_ok=True)
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", f"{scratch.SCRATCH_USER}:", str(pg.root)], check=True)
    os.chmod(pg.data, 0o700)


def _wait_promoted(pg: scratch.ScratchPostgres, timeout: float = 300) -> None:
    sock = str(pg.root / "sock")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = subprocess.run(["psql", "-X", "-At", "-h", sock, "-p", str(pg.port), "-U",
                               "postgres", "-d", "postgres", "-c",
                               "SELECT pg_is_in_recovery()"], capture_output=True, text=True,
                              timeout=60, check=False)
        if done.returncode == 0 and done.stdout.strip() == "f":
            subprocess.run(["psql", "-X", "-q", "-h", sock, "-p", str(pg.port), "-U",
                            "postgres", "-d", "postgres"], input="ALTER ROLE postgres "
                           f"PASSWORD '{pg.password}';\n", text=True, capture_output=True,
                           timeout=60, check=True)
            return
        time.sleep(0.3)
    log = (pg.root / "server.log").read_text(errors="replace")[-800:]
    raise PermanentError(f"the point-in-time restore did not finish recovery: {log}")


def tar_available() -> bool:
    return shutil.which("tar") is not None


__all__ = ["capture", "check_archiving", "newest_segment", "restore_to", "ship",
           "tar_available", "tempfile"]
