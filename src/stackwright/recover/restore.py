"""Restores: which snapshots (the newest, one by id, a run, or the newest at a time), into
scratch instances, or in place after a safety backup."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from stackwright.core.model import Address
from stackwright.errors import PermanentError
from stackwright.local import labels_for, object_name, podman_for
from stackwright.recover import backup, scratch
from stackwright.recover.capture import passfile, volume_dir
from stackwright.recover.platform import Platform, Source
from stackwright.tools import restic
from stackwright.tools.restic import Repo, Snapshot

T = TypeVar("T")


@dataclass
class Restored:
    """One source restored: where it is now (``url`` / ``path``) and what to stop after."""

    source: str
    snapshot: str
    time: str
    target: str
    where: dict[str, Any] = field(default_factory=dict)
    handle: dict[str, Any] = field(default_factory=dict)  # what discard() removes

    def to_json(self) -> dict[str, Any]:
        public = {k: v for k, v in self.where.items() if k != "url"}
        return {"source": self.source, "snapshot": self.snapshot, "time": self.time,
                "target": self.target, **public, "scratch": self.handle or None}


def parse_time(text: str) -> datetime:
    try:
        found = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise PermanentError(f"--at: not a time: {text!r}",
                             hint="an ISO 8601 time, e.g. 2026-12-03T08:30:00Z") from exc
    if found.tzinfo is None:
        raise PermanentError(f"--at: {text!r} has no time zone", hint="add Z or +01:00")
    return found


def _snap_time(snap: Snapshot) -> datetime:
    return restic_time(snap.time)


def restic_time(text: str) -> datetime:
    """restic's times (nanoseconds, a zone offset or Z) as aware datetimes."""
    import re

    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$",
                     text.strip())
    if match is None:
        return datetime.fromisoformat(text)
    head, frac, zone = match.groups()
    zone = "+00:00" if zone in (None, "Z") else zone
    return datetime.fromisoformat(f"{head}.{(frac or '0')[:6].ljust(6, '0')}{zone}")


def choose(snaps: Sequence[Snapshot], sources: Sequence[Source], *, snapshot: str | None,
           at: datetime | None) -> list[tuple[Source, Snapshot]]:
    """For each source, the snapshot to restore (safety snapshots only when named)."""
    if snapshot is not None:
        picked = [s for s in snaps if s.id.startswith(snapshot) or s.tag("sw-run") == snapshot]
        if not picked:
            raise PermanentError(f"--snapshot {snapshot}: no snapshot or run of this policy "
                                 "has that id", hint="see `stackwright backup list POLICY`")
    else:
        picked = [s for s in snaps if "sw-safety" not in s.tags
                  and (at is None or _snap_time(s) <= at)]
    chosen: list[tuple[Source, Snapshot]] = []
    for source in sources:
        mine = [s for s in picked if s.tag("sw-source") == source.label]
        if mine:
            chosen.append((source, max(mine, key=_snap_time)))
    if not chosen:
        when = f" at or before {at.isoformat()}" if at else ""
        raise PermanentError(f"no snapshot of this policy's sources{when}",
                             hint="take one with `stackwright backup run POLICY`")
    return chosen


def restore_policy(platform: Platform, name: str, *, snapshot: str | None = None,
                   at: datetime | None = None, target: str = "scratch",
                   only: str | None = None) -> tuple[list[Restored], str | None]:
    """Restore the policy's sources; the restored ones, and the safety run's id (in place)."""
    spec = platform.policy(name)
    repo = platform.repo(spec)
    sources = [s for s in platform.sources(spec) if only is None or s.label == only]
    if target == "scratch" and snapshot is None and at is None:
        return _scratch_newest(platform, name, repo, sources), None
    return _restore_chosen(platform, name, repo, sources, snapshot=snapshot, at=at,
                           target=target)


def _scratch_newest(platform: Platform, name: str, repo: Repo, sources: list[Source]
                    ) -> list[Restored]:
    """The newest backup of every source into scratch. Volumes and files are restored with
    restic choosing the snapshot itself (no listing first: the listing is a second pass over
    the repository's snapshots); the other sources, or snapshots from before the ``sw-kind``
    tag, go through :func:`choose`."""
    done: list[Restored] = []
    rest: list[Source] = []
    try:
        for source in sources:
            quick = _LATEST.get(source.kind)
            item = quick(platform, name, repo, source) if quick else None
            if item is None:
                rest.append(source)
            else:
                done.append(item)
        if rest:
            try:
                done += _restore_chosen(platform, name, repo, rest, snapshot=None, at=None,
                                        target="scratch")[0]
            except PermanentError:
                if not done:
                    raise
    except BaseException:
        discard(done)
        raise
    return done


def _restore_chosen(platform: Platform, name: str, repo: Repo, sources: list[Source], *,
                    snapshot: str | None, at: datetime | None, target: str
                    ) -> tuple[list[Restored], str | None]:
    spec = platform.policy(name)
    snaps = backup.policy_snapshots(platform, name, repo)
    if spec.postgres == "pitr":
        snaps = [s for s in snaps if s.tag("sw-type") != "wal"]  # replayed, never chosen
    chosen = choose(snaps, sources, snapshot=snapshot, at=at)
    if spec.postgres == "pitr" and target == "in-place" and any(
            s.kind == "Database" for s, _ in chosen):
        raise PermanentError("a point-in-time restore goes to scratch only",
                             hint="restore to scratch, check it, then pg_dump it over")
    safety: str | None = None
    if target == "in-place":
        run = backup.run_policy(platform, name, extra_tags=["sw-safety"], kind="safety")
        if run.status != "succeeded":
            raise PermanentError(f"the safety backup failed, nothing was restored: {run.reason}")
        safety = run.id
    done: list[Restored] = []
    try:
        for source, snap in chosen:
            platform.log(f"restoring {source.label} from {snap.short_id} ({target})")
            if spec.postgres == "pitr" and source.kind == "Database":
                done.append(_scratch_pitr(platform, repo, source, snap, at))
                continue
            how = _IN_PLACE if target == "in-place" else _SCRATCH
            done.append(how[source.kind](platform, repo, source, snap))
    except BaseException:
        discard(done)
        raise
    return done, safety


def discard(restored: Sequence[Restored]) -> None:
    """Stop and remove the scratch instances of a restore."""
    for item in restored:
        if item.handle:
            discard_handle(item.handle)


def discard_handle(handle: dict[str, Any]) -> None:
    if "postgres" in handle:
        scratch.stop_postgres(Path(handle["postgres"]))
    if "redis" in handle:
        scratch.stop_redis(Path(handle["redis"]), int(handle["pid"]))
    if "volume" in handle:
        from stackwright.tools.podman import Podman

        Podman().call(["volume", "rm", "--force", str(handle["volume"])], "volume rm")
    if "dir" in handle:
        shutil.rmtree(handle["dir"], ignore_errors=True)


def _restored(source: Source, snap: Snapshot, target: str, **where: Any) -> Restored:
    return Restored(source.label, snap.short_id, snap.time, target, dict(where))


def _stdin_file(snap: Snapshot) -> str:
    return snap.paths[0] if snap.paths else "/stdin"


# -- into scratch instances ------------------------------------------------------------------

def _scratch_database(platform: Platform, repo: Repo, source: Source, snap: Snapshot
                      ) -> Restored:
    assert source.record is not None
    database = str(source.record.outputs["database"])
    owner = str(source.record.outputs.get("owner") or source.record.outputs["user"])
    pg = scratch.empty_postgres()
    try:
        with passfile(scratch.HOST, pg.port, pg.user, pg.password) as pgpass:
            env = {"PGPASSFILE": str(pgpass)}
            conn = ["-h", scratch.HOST, "-p", str(pg.port), "-U", pg.user, "--no-password"]
            _psql(env, conn, owner, database)
            restic.dump_to(repo, snap.id, _stdin_file(snap),
                           ["pg_restore", "--no-owner", "--no-acl", "--exit-on-error",
                            "--single-transaction", "--role", owner, *conn, "-d", database],
                           consumer_env=env, timeout=86400)
    except BaseException:
        pg.stop()
        raise
    item = _restored(source, snap, "scratch", host=scratch.HOST, port=pg.port,
                     database=database, user=pg.user, socket=str(pg.root / "sock"),
                     url=pg.url(database))
    item.handle = {"postgres": str(pg.root)}
    return item


def _psql(env: dict[str, str], conn: list[str], owner: str, database: str) -> None:
    """The owner role and the empty database a dump is restored into."""
    done = subprocess.run(["psql", "-X", "-q", *conn, "-d", "postgres", "-v", "ON_ERROR_STOP=1",
                           "-c", f'CREATE ROLE "{owner}"', "-c",
                           f'CREATE DATABASE "{database}" OWNER "{owner}"'],
                          capture_output=True, text=True, env={**os.environ, **env},
                          timeout=120, check=False)
    if done.returncode:
        raise PermanentError(f"cannot prepare the scratch database: {done.stderr.strip()}")


def _scratch_cache(platform: Platform, repo: Repo, source: Source, snap: Snapshot
                   ) -> Restored:
    redis = scratch.new_redis_dir()
    try:
        _restore_rdb(repo, snap, redis.root / "dump.rdb")
        redis.start()
    except BaseException:
        redis.stop()
        raise
    assert redis.process is not None
    item = _restored(source, snap, "scratch", host=scratch.HOST, port=redis.port,
                     passwordFile=str(redis.password_file()), url=redis.url())
    item.handle = {"redis": str(redis.root), "pid": redis.process.pid}
    return item


def _restore_rdb(repo: Repo, snap: Snapshot, dest: Path) -> None:
    """The snapshot's RDB file, put at ``dest`` (replacing what is there)."""
    with tempfile.TemporaryDirectory(prefix="sw-restore-") as tmp:
        restic.restore(repo, snap.id, Path(tmp), timeout=86400)
        found = list(Path(tmp).rglob("dump.rdb"))
        if not found:
            raise PermanentError(f"snapshot {snap.short_id} holds no dump.rdb")
        shutil.copy2(found[0], dest)


def _into_volume(platform: Platform, source: Source, suffix: str,
                 fill: Callable[[Path], T]) -> tuple[str, str, T]:
    """A new scratch podman volume ``<volume>-scratch-<suffix>`` filled by ``fill(mount)``;
    its name, mountpoint and what ``fill`` returned. Removed again if ``fill`` fails."""
    address = Address("Volume", f"{source.name}-scratch-{suffix}")
    ctx = platform.ctx(address)
    podman = podman_for(ctx)
    name = object_name(ctx, address)
    info = podman.volume_create(name, labels=labels_for(ctx, address))
    try:
        return name, info.mountpoint, fill(Path(info.mountpoint))
    except BaseException:
        podman.volume_remove(name, force=True)
        raise


def _scratch_volume(platform: Platform, repo: Repo, source: Source, snap: Snapshot
                    ) -> Restored:
    name, mount, _ = _into_volume(platform, source, snap.short_id, lambda where: restic.restore(
        repo, snap.id, where, timeout=86400))
    item = _restored(source, snap, "scratch", volume=name, path=mount)
    item.handle = {"volume": name}
    return item


def _latest_tags(platform: Platform, policy: str, source: Source) -> list[str]:
    return [*platform.tags(policy), f"sw-source={source.label}", "sw-kind=backup"]


def _latest_into(platform: Platform, policy: str, repo: Repo, source: Source, where: Path
                 ) -> tuple[str, str] | None:
    if "," in source.label:  # restic reads a comma as the end of a tag
        return None
    platform.log(f"restoring {source.label} from its newest backup (scratch)")
    return restic.restore_latest(repo, where, host=platform.host(),
                                 tags=_latest_tags(platform, policy, source), timeout=86400)


def _latest_volume(platform: Platform, policy: str, repo: Repo, source: Source
                   ) -> Restored | None:
    import secrets

    name, mount, found = _into_volume(platform, source, secrets.token_hex(4), partial(
        _latest_into, platform, policy, repo, source))
    if found is None:
        podman_for(platform.ctx()).volume_remove(name, force=True)
        return None
    item = Restored(source.label, found[0], found[1], "scratch", {"volume": name, "path": mount})
    item.handle = {"volume": name}
    return item


def _latest_files(platform: Platform, policy: str, repo: Repo, source: Source
                  ) -> Restored | None:
    folder = Path(tempfile.mkdtemp(prefix="sw-restore-files-"))
    try:
        found = _latest_into(platform, policy, repo, source, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if found is None:
        shutil.rmtree(folder, ignore_errors=True)
        return None
    item = Restored(source.label, found[0], found[1], "scratch", {"path": str(folder)})
    item.handle = {"dir": str(folder)}
    return item


_LATEST = {"Volume": _latest_volume, "File": _latest_files}


def _scratch_files(platform: Platform, repo: Repo, source: Source, snap: Snapshot
                   ) -> Restored:
    folder = Path(tempfile.mkdtemp(prefix="sw-restore-files-"))
    try:
        restic.restore(repo, snap.id, folder, timeout=86400)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    item = _restored(source, snap, "scratch", path=str(folder))
    item.handle = {"dir": str(folder)}
    return item


_SCRATCH = {"Database": _scratch_database, "Cache": _scratch_cache, "Volume": _scratch_volume,
            "File": _scratch_files}


def _scratch_pitr(platform: Platform, repo: Repo, source: Source, base: Snapshot,
                  at: datetime | None) -> Restored:
    from stackwright.recover import pitr

    wals = [s for s in restic.snapshots(repo, [f"sw-source={source.label},sw-type=wal"])
            if _snap_time(s) >= _snap_time(base) and pitr.covers(s, base)]
    if not wals:
        raise PermanentError(f"{source.label}: no archived WAL after base backup "
                             f"{base.short_id} that holds the segment it starts from",
                             hint="run the policy again, or keep more WAL snapshots "
                                  "(retention) to restore older base backups")
    wal = max(wals, key=_snap_time)
    pg = pitr.restore_to(platform, repo, source, base, wal, at)["pg"]
    assert source.record is not None
    database = str(source.record.outputs["database"])
    item = _restored(source, base, "scratch", host=scratch.HOST, port=pg.port,
                     database=database, user=pg.user, socket=str(pg.root / "sock"),
                     url=pg.url(database), wal=wal.short_id,
                     recoveryTarget=at.isoformat() if at else "latest")
    item.handle = {"postgres": str(pg.root)}
    if at is None:  # recovered up to the newest segment shipped: what RPO measures
        item.time = wal.tag("sw-wal-at") or wal.time
    return item


# -- in place --------------------------------------------------------------------------------

def _in_place_database(platform: Platform, repo: Repo, source: Source, snap: Snapshot
                       ) -> Restored:
    """Everything the owner has is dropped and the dump restored, in one transaction."""
    assert source.record is not None
    out = source.record.outputs
    host, port, user, db = str(out["host"]), int(out["port"]), str(out["user"]), \
        str(out["database"])
    owner = str(out.get("owner") or user)
    conn = f"-h {host} -p {port} -U {user} -d {db} --no-password"
    script = ("set -euo pipefail; pg_restore --no-owner --no-acl -f - | psql -X -q -1 -v "
              f"ON_ERROR_STOP=1 {conn} -c 'DROP OWNED BY \"{owner}\"' -f - >/dev/null")
    with passfile(host, port, user, str(out["password"])) as pgpass:
        restic.dump_to(repo, snap.id, _stdin_file(snap), ["bash", "-c", script],
                       consumer_env={"PGPASSFILE": str(pgpass)}, timeout=86400)
    return _restored(source, snap, "in-place", host=host, port=port, database=db)


def _in_place_cache(platform: Platform, repo: Repo, source: Source, snap: Snapshot
                    ) -> Restored:
    assert source.record is not None
    inputs = source.record.inputs
    if inputs.get("appendonly"):
        raise PermanentError(f"{source.label} has appendonly: true; Redis would load its AOF, "
                             "not the restored RDB", hint="restore to scratch and copy keys, "
                             "or set appendonly: false while restoring")
    container = str(source.record.outputs["container"])
    podman = podman_for(platform.ctx(source.record.address))
    folder = volume_dir(platform, source) / "redis"
    podman.container_stop(container, timeout=30)
    try:
        _restore_rdb(repo, snap, folder / "dump.rdb")
    finally:
        podman.call(["start", container], f"start {container}")
    return _restored(source, snap, "in-place", container=container)


def _empty(folder: Path) -> None:
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _in_place_volume(platform: Platform, repo: Repo, source: Source, snap: Snapshot
                     ) -> Restored:
    folder = volume_dir(platform, source)
    _empty(folder)
    restic.restore(repo, snap.id, folder, timeout=86400)
    return _restored(source, snap, "in-place", path=str(folder))


def _in_place_files(platform: Platform, repo: Repo, source: Source, snap: Snapshot
                    ) -> Restored:
    restic.restore(repo, snap.id, Path("/"), timeout=86400)
    return _restored(source, snap, "in-place", path=str(platform.ctx().resolve_path(
        source.name)))


_IN_PLACE = {"Database": _in_place_database, "Cache": _in_place_cache,
             "Volume": _in_place_volume, "File": _in_place_files}
