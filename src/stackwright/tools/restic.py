"""A thin wrapper around the restic CLI: init, backup (paths or a stream), snapshots, forget,
check, restore and dump, with restic's failures turned into Stackwright's error tree.

The repository password reaches restic only through the ``RESTIC_PASSWORD`` variable of the
child process (never a command line, a file or a log); S3 credentials likewise through
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``. Error messages are scrubbed of both.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from stackwright.errors import PermanentError, TemporaryError
from stackwright.tools._proc import ToolError, tail

BINARY = "restic"
# What restic says when the storage cannot be reached (a temporary failure, retried).
_UNREACHABLE = ("connection refused", "no such host", "timeout", "dial tcp", "i/o timeout")
_FULL = ("no space left on device", "disk quota exceeded")


class ResticError(ToolError):
    """restic exited non-zero."""


class RepositoryFullError(ResticError):
    """The repository's storage is full; nothing was added to it."""


class RepositoryUnreachableError(TemporaryError):
    """The repository's storage cannot be reached now."""


class NoRepositoryError(ResticError):
    """There is no repository at the location (or its config is gone)."""


class RepositoryLockedError(ResticError):
    """Another restic process holds an exclusive lock on the repository."""


@dataclass(frozen=True)
class Repo:
    """Where a repository is and how to open it. ``location`` is restic's repository string
    (a directory, or ``s3:http://host:port/bucket/prefix``); ``env`` holds the password and
    any storage credentials (kept out of ``repr``)."""

    location: str
    env: Mapping[str, str] = field(repr=False)
    cache_dir: Path | None = None

    def secrets(self) -> list[str]:
        return [v for k, v in self.env.items() if k in _SECRET_VARS and v]


_SECRET_VARS = ("RESTIC_PASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID")


@dataclass(frozen=True)
class Snapshot:
    id: str
    short_id: str
    time: str
    paths: tuple[str, ...]
    tags: tuple[str, ...]
    hostname: str

    def tag(self, key: str) -> str | None:
        """The value of a ``key=value`` tag."""
        for t in self.tags:
            name, sep, value = t.partition("=")
            if sep and name == key:
                return value
        return None


@dataclass(frozen=True)
class BackupSummary:
    snapshot_id: str
    files_new: int
    data_added: int
    total_bytes_processed: int
    total_duration: float


def _argv(repo: Repo, args: Sequence[str]) -> list[str]:
    base = [BINARY, "--repo", repo.location]
    if repo.cache_dir is not None:
        base += ["--cache-dir", str(repo.cache_dir)]
    return [*base, *args]


def _env(repo: Repo) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SECRET_VARS
           and k != "RESTIC_PASSWORD_FILE" and k != "RESTIC_REPOSITORY"}
    return {**env, **repo.env}


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "(sensitive)")
    return text


def _subcommand(argv: Sequence[str]) -> str:
    skip = False
    for word in argv[1:]:
        if skip:
            skip = False
        elif word in ("--repo", "--cache-dir"):
            skip = True
        else:
            return word
    return ""


def _error(repo: Repo, argv: Sequence[str], code: int, stderr: str) -> Exception:
    said = scrub(tail(stderr, 8), repo.secrets())
    low = said.lower()
    what = f"restic {_subcommand(argv)} on {repo.location} failed ({code})"
    if any(s in low for s in _FULL):
        return RepositoryFullError(f"{what}: the repository's storage is full: {said}",
                                   argv=argv[:1], stderr=said,
                                   hint="free space where the repository lives; the earlier "
                                        "snapshots are untouched")
    if "repository is already locked" in low or "unable to create lock" in low:
        return RepositoryLockedError(f"{what}: {said}", argv=argv[:1], stderr=said,
                                     hint="another backup or prune runs; a stale lock of a "
                                          "killed run goes with `restic unlock`")
    if any(s in low for s in _UNREACHABLE):
        return RepositoryUnreachableError(f"{what}: the repository cannot be reached: {said}",
                                          hint="check the repository's endpoint and that its "
                                               "storage is up", delay=10.0)
    if "is there a repository at the following location" in low:
        return NoRepositoryError(f"{what}: there is no repository there", argv=argv[:1],
                                 stderr=said, hint="apply its BackupRepository (restic init)")
    if "wrong password" in low:
        return ResticError(f"{what}: wrong password", argv=argv[:1], stderr=said,
                           hint="the password in the secrets store does not open this "
                                "repository")
    return ResticError(f"{what}: {said}", argv=argv[:1], stderr=said)


def run(repo: Repo, args: Sequence[str], *, timeout: float | None = None,
        stdin: IO[bytes] | None = None) -> str:
    """Run ``restic args`` on the repository; its stdout, or a ResticError."""
    argv = _argv(repo, args)
    try:
        proc = subprocess.run(argv, stdin=stdin, capture_output=True, env=_env(repo),
                              timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise ResticError("restic is not installed", argv=argv[:1],
                          hint="apt-get install restic") from exc
    except subprocess.TimeoutExpired as exc:
        raise TemporaryError(f"restic {args[0]} timed out after {timeout}s", delay=10) from exc
    if proc.returncode:
        raise _error(repo, argv, proc.returncode, proc.stderr.decode(errors="replace"))
    return proc.stdout.decode(errors="replace")


def init(repo: Repo) -> None:
    run(repo, ["init"], timeout=120)


def exists(repo: Repo) -> bool:
    """Whether a repository (its config) is there and opens with the password."""
    try:
        run(repo, ["cat", "config"], timeout=60)
    except NoRepositoryError:
        return False
    return True


def config_id(repo: Repo) -> str:
    return str(json.loads(run(repo, ["cat", "config"], timeout=60))["id"])


def _tags(tags: Iterable[str]) -> list[str]:
    return [a for t in tags for a in ("--tag", t)]


def _summary(stdout: str) -> BackupSummary:
    for line in reversed(stdout.splitlines()):
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("message_type") == "summary":
            return BackupSummary(str(doc["snapshot_id"]), int(doc.get("files_new", 0)),
                                 int(doc.get("data_added", 0)),
                                 int(doc.get("total_bytes_processed", 0)),
                                 float(doc.get("total_duration", 0.0)))
    raise ResticError("restic backup printed no summary", stderr=stdout[-500:])


def backup_paths(repo: Repo, paths: Sequence[Path], tags: Iterable[str], *, host: str,
                 cwd: Path | None = None, timeout: float | None = None) -> BackupSummary:
    """Back up files; relative ``paths`` are taken from ``cwd`` (so the snapshot holds them
    relative, and a restore puts them under its target as they were under ``cwd``)."""
    args = ["backup", "--json", "--host", host, *_tags(tags), *[str(p) for p in paths]]
    argv = _argv(repo, args)
    try:
        proc = subprocess.run(argv, capture_output=True, env=_env(repo), cwd=cwd,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise TemporaryError(f"restic backup timed out after {timeout}s", delay=10) from exc
    if proc.returncode not in (0, 3):  # 3: some source files could not be read
        raise _error(repo, argv, proc.returncode, proc.stderr.decode(errors="replace"))
    return _summary(proc.stdout.decode(errors="replace"))


def backup_stream(repo: Repo, producer: Sequence[str], filename: str, tags: Iterable[str], *,
                  host: str, producer_env: Mapping[str, str] | None = None,
                  timeout: float | None = None) -> BackupSummary:
    """Back up what ``producer`` (a command: pg_dump, podman exec …) writes to stdout, as one
    file ``filename``. If the producer fails, the snapshot restic made is forgotten again."""
    prod = subprocess.Popen(list(producer), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(producer_env or {})})
    assert prod.stdout is not None
    try:
        out = run(repo, ["backup", "--json", "--stdin", "--stdin-filename", filename,
                         "--host", host, *_tags(tags)], stdin=prod.stdout, timeout=timeout)
    finally:
        prod.stdout.close()
        perr = prod.stderr.read().decode(errors="replace") if prod.stderr else ""
        code = prod.wait(timeout=60)
    summary = _summary(out)
    if code:
        forget_ids(repo, [summary.snapshot_id])
        raise ToolError(f"{producer[0]} failed ({code}): {tail(perr, 6)}", argv=producer[:1],
                        stderr=perr, hint="the incomplete snapshot was forgotten")
    return summary


def snapshots(repo: Repo, tags: Iterable[str] = ()) -> list[Snapshot]:
    args = ["snapshots", "--json"]
    for t in tags:
        args += ["--tag", t]
    docs: list[dict[str, Any]] = json.loads(run(repo, args, timeout=120) or "[]") or []
    return [Snapshot(d["id"], d.get("short_id", d["id"][:8]), d["time"],
                     tuple(d.get("paths") or ()), tuple(d.get("tags") or ()),
                     d.get("hostname", "")) for d in docs]


def forget_ids(repo: Repo, ids: Sequence[str]) -> None:
    if ids:
        run(repo, ["forget", *ids], timeout=300)


def forget_keep(repo: Repo, keep: Mapping[str, int], tags: Iterable[str], *,
                prune: bool = True) -> list[str]:
    """``forget --keep-*`` over the snapshots with all ``tags``, grouped by host and paths;
    the ids it removed."""
    args = ["forget", "--json", "--group-by", "host,paths"]
    for name, count in keep.items():
        args += [f"--keep-{name}", str(count)]
    args += [a for t in [",".join(tags)] if t for a in ("--tag", t)]
    if prune:
        args.append("--prune")
    out = run(repo, args, timeout=1800)
    removed: list[str] = []
    for line in out.splitlines():
        line = line.strip()
        if not line.startswith("[{"):
            continue
        try:
            groups = json.loads(line)
        except ValueError:  # prune's progress lines
            continue
        for group in groups:
            removed += [s["id"] for s in group.get("remove") or []]
    return removed


def check(repo: Repo, read_data_subset: str | None = None) -> str:
    args = ["check"] + (["--read-data-subset", read_data_subset] if read_data_subset else [])
    return run(repo, args, timeout=3600)


def unlock(repo: Repo) -> None:
    run(repo, ["unlock"], timeout=120)


def restore(repo: Repo, snapshot_id: str, target: Path, *, timeout: float | None = None
            ) -> None:
    run(repo, ["restore", snapshot_id, "--target", str(target)], timeout=timeout)


_RESTORING = re.compile(r"^restoring <Snapshot ([0-9a-f]+) of \[.*\] at (\d{4}-\d\d-\d\d) "
                        r"(\d\d:\d\d:\d\d(?:\.\d+)?) ([+-]\d\d)(\d\d)\b", re.MULTILINE)


def restore_latest(repo: Repo, target: Path, *, host: str, tags: Sequence[str],
                   timeout: float | None = None) -> tuple[str, str] | None:
    """Restore the newest snapshot of ``host`` holding every tag in ``tags`` into ``target``,
    restic choosing it (one process: no ``snapshots`` listing first); its short id and time
    (ISO 8601), or None when no snapshot matches."""
    try:
        out = run(repo, ["restore", "latest", "--host", host, "--tag", ",".join(tags),
                         "--target", str(target)], timeout=timeout)
    except ResticError as exc:
        if "no snapshot found" in (exc.stderr or "").lower():
            return None
        raise
    return restored_snapshot(out)


def restored_snapshot(said: str) -> tuple[str, str]:
    """The short id and time (ISO 8601) of the snapshot ``restic restore`` says it restores."""
    found = _RESTORING.search(said)
    if found is None:
        raise ResticError("restic restore did not say which snapshot it restored",
                          stderr=said[-500:])
    short, day, clock, hours, minutes = found.groups()
    return short, f"{day}T{clock}{hours}:{minutes}"


def dump_to(repo: Repo, snapshot_id: str, filename: str, consumer: Sequence[str], *,
            consumer_env: Mapping[str, str] | None = None, timeout: float | None = None
            ) -> str:
    """Pipe file ``filename`` of a snapshot into ``consumer``'s stdin; its output."""
    dump = subprocess.Popen(_argv(repo, ["dump", snapshot_id, filename]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(repo))
    assert dump.stdout is not None
    try:
        used = subprocess.run(list(consumer), stdin=dump.stdout, capture_output=True,
                              env={**os.environ, **(consumer_env or {})}, timeout=timeout,
                              check=False)
    finally:
        dump.stdout.close()
        derr = dump.stderr.read().decode(errors="replace") if dump.stderr else ""
        dcode = dump.wait(timeout=60)
    if dcode:
        raise _error(repo, _argv(repo, ["dump"]), dcode, derr)
    if used.returncode:
        err = used.stderr.decode(errors="replace")
        raise ToolError(f"{consumer[0]} failed ({used.returncode}): {tail(err, 6)}",
                        argv=consumer[:1], stderr=err)
    return used.stdout.decode(errors="replace")


def stats_raw(repo: Repo) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(run(repo, ["stats", "--json", "--mode", "raw-data"],
                                         timeout=600))
    return doc


__all__ = ["BackupSummary", "NoRepositoryError", "PermanentError", "Repo",
           "RepositoryFullError", "RepositoryLockedError", "RepositoryUnreachableError",
           "ResticError", "Snapshot",
           "backup_paths", "backup_stream", "check", "config_id", "dump_to", "exists",
           "forget_ids", "forget_keep", "init", "restore", "restore_latest",
           "restored_snapshot", "run", "scrub", "snapshots", "stats_raw", "unlock"]
