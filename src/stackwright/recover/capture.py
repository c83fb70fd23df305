"""Consistent captures of one source into a restic snapshot.

- Database: ``pg_dump --format=custom --compress=0`` of the database over TCP, streamed
  into restic (``--stdin``; restic compresses it with zstd, far cheaper than pg_dump's zlib,
  and an uncompressed dump deduplicates against the previous one), logged in as the
  database's user with a password file only this process reads (never a command line or an
  environment variable).
- Cache: ``BGSAVE``, waited for, then the RDB file from the cache's volume.
- Volume: the volume's directory on the host, read while the running containers that mount
  it are paused (``podman pause``; unpaused afterwards, also when the capture fails), so that
  no file is caught half-written; ``pauseWriters: false`` leaves them running (a policy's
  ``hooks`` can quiesce them instead).
- File: the paths, relative to the project.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from stackwright.core.model import Address
from stackwright.errors import PermanentError, TemporaryError
from stackwright.local import podman_for
from stackwright.recover import resp
from stackwright.recover.platform import Platform, Source
from stackwright.tools import restic
from stackwright.tools.restic import BackupSummary, Repo

RDB_NAME = "dump.rdb"


@contextlib.contextmanager
def passfile(host: str, port: int, user: str, password: str) -> Iterator[Path]:
    """A libpq password file (mode 0600, removed afterwards)."""
    folder = Path(tempfile.mkdtemp(prefix="sw-recover-"))
    path = folder / "pgpass"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            esc = password.replace("\\", "\\\\").replace(":", "\\:")
            out.write(f"{host}:{port}:*:{user}:{esc}\n")
        yield path
    finally:
        path.unlink(missing_ok=True)
        folder.rmdir()


def capture(platform: Platform, repo: Repo, source: Source, tags: Sequence[str],
            timeout: float, postgres: str = "dump", pause: bool = True) -> list[BackupSummary]:
    """The snapshots of ``source`` (one; two for a database with ``pitr``), tagged with
    ``tags`` and its own source/type tags. With ``pause``, the running containers that mount
    a volume are paused while it is read."""
    tags = [*tags, f"sw-source={source.label}"]
    if source.kind == "Database" and postgres == "pitr":
        from stackwright.recover import pitr

        return pitr.capture(platform, repo, source, tags, timeout)
    if source.kind == "Database":
        return [_database(platform, repo, source, [*tags, "sw-type=pg_dump"], timeout)]
    if source.kind == "Cache":
        return [_cache(platform, repo, source, [*tags, "sw-type=rdb"], timeout)]
    if source.kind == "Volume":
        mount = volume_dir(platform, source)
        with paused_writers(platform, source, pause):
            return [restic.backup_paths(repo, [Path(".")], [*tags, "sw-type=volume"],
                                        host=platform.host(), cwd=mount, timeout=timeout)]
    path = platform.ctx().resolve_path(source.name)
    if not path.exists():
        raise PermanentError(f"sources.files: {source.name} does not exist",
                             hint="give a path that exists (relative paths: to the project)")
    return [restic.backup_paths(repo, [path], [*tags, "sw-type=files"], host=platform.host(),
                                timeout=timeout)]


def dump_name(database: str) -> str:
    """The file a database's dump is in, in its snapshot (one path per source, so that
    retention, grouped by host and paths, counts each source on its own)."""
    return f"{database}.pgdump"


def _outputs(source: Source) -> dict[str, Any]:
    assert source.record is not None
    return dict(source.record.outputs)


def _database(platform: Platform, repo: Repo, source: Source, tags: list[str],
              timeout: float) -> BackupSummary:
    out = _outputs(source)
    host, port, user = str(out["host"]), int(out["port"]), str(out["user"])
    with passfile(host, port, user, str(out["password"])) as pgpass:
        argv = ["pg_dump", "--format=custom", "--compress=0", "--no-password", "-h", host,
                "-p", str(port), "-U", user, "-d", str(out["database"])]
        return restic.backup_stream(repo, argv, dump_name(source.name), tags, host=platform.host(),
                                    producer_env={"PGPASSFILE": str(pgpass),
                                                  "PGCONNECT_TIMEOUT": "10"},
                                    timeout=timeout)


def _volume_name(source: Source) -> str:
    return str(_outputs(source).get("volume") or _outputs(source).get("name") or "")


def writers(platform: Platform, source: Source) -> list[str]:
    """The running containers that mount the volume of ``source``."""
    podman = podman_for(platform.ctx(Address(source.kind, source.name)))
    done = podman.call(["ps", "--filter", f"volume={_volume_name(source)}", "--filter",
                        "status=running", "--format", "{{.Names}}"], "ps of the volume's users")
    return sorted(set(done.stdout.split()))


@contextlib.contextmanager
def paused_writers(platform: Platform, source: Source, pause: bool = True
                   ) -> Iterator[list[str]]:
    """The volume's running containers paused while the block runs; every one that was
    paused is unpaused after it, whatever happens in the block."""
    if not pause:
        yield []
        return
    podman = podman_for(platform.ctx(Address(source.kind, source.name)))
    done: list[str] = []
    try:
        for name in writers(platform, source):
            platform.log(f"  pausing {name} (it mounts {source.label})")
            podman.call(["pause", name], f"pause {name}")
            done.append(name)
        yield done
    finally:
        for name in done:
            back = podman.probe(["unpause", name])
            if back.returncode:
                platform.log(f"  could not unpause {name}: {back.stderr.strip()}")
            else:
                platform.log(f"  unpaused {name}")


def volume_dir(platform: Platform, source: Source) -> Path:
    """The host directory of a Volume (or of a Database's or Cache's volume)."""
    name = _volume_name(source)
    info = podman_for(platform.ctx(Address(source.kind, source.name))).volume_inspect(name)
    return Path(info.mountpoint)


def _cache(platform: Platform, repo: Repo, source: Source, tags: list[str],
           timeout: float) -> BackupSummary:
    out = _outputs(source)
    bgsave(str(out["host"]), int(out["port"]), str(out["password"]), timeout)
    folder = volume_dir(platform, source) / "redis"
    if not (folder / RDB_NAME).is_file():
        raise PermanentError(f"{source.label}: BGSAVE wrote no {RDB_NAME} in {folder}")
    return restic.backup_paths(repo, [Path(RDB_NAME)], tags, host=platform.host(),
                               cwd=folder, timeout=timeout)


def bgsave(host: str, port: int, password: str, timeout: float) -> None:
    """Ask Redis for a snapshot of its data set on disk and wait until it is written."""
    before = int(resp.info(host, port, password, "persistence").get("rdb_saves", "0"))
    started = resp.call(host, port, password, ["BGSAVE"])
    if isinstance(started, resp.Error) and "already in progress" not in started:
        raise PermanentError(f"BGSAVE failed: {started}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fields = resp.info(host, port, password, "persistence")
        if (fields.get("rdb_bgsave_in_progress") == "0"
                and int(fields.get("rdb_saves", "0")) > before):
            if fields.get("rdb_last_bgsave_status") != "ok":
                raise PermanentError("BGSAVE failed: rdb_last_bgsave_status is not ok",
                                     hint="see the cache container's log")
            return
        time.sleep(0.1)
    raise TemporaryError(f"BGSAVE did not finish within {timeout:g}s", delay=30)
