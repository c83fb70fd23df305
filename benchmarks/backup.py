"""Backup and restore throughput against the floor, and a drill's RTO.

A volume and a PostgreSQL database of ``--size-mib`` each, in a project applied for the
benchmark (secrets API in this process, podman, the data image), then:

- volume: ``backup run`` of the volume vs plain ``restic backup`` of the same directory into
  a fresh repository; the same after 1% of its bytes changed (incremental, ``--repeat``
  rounds); a scratch restore vs plain ``restic restore`` (``--repeat`` each); repeated
  figures are medians of samples taken in alternating order, listed under ``*_samples``;
- database: ``backup run`` (pg_dump into restic) plus a scratch restore (a new PostgreSQL,
  restic dump into pg_restore) vs ``pg_dump | pg_restore`` into a new PostgreSQL;
- a drill of the database policy (restore + one SQL check): its measured RTO.

Ratios are Stackwright's time over the floor's; target 1.2. ``breakdown`` gives where our
time went (restic calls by subcommand, secrets, scratch servers, podman). Usage::

    .venv/bin/python benchmarks/backup.py --size-mib 1024       # the report's size
    .venv/bin/python benchmarks/backup.py --size-mib 8 --skip-db    # smoke: seconds
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TARGET = 1.2
FILE_MIB = 16

SPEC = """
apiVersion: stackwright.dev/v1
kind: Volume
metadata: {name: data}
spec: {deletionPolicy: Delete}
---
apiVersion: stackwright.dev/v1
kind: BackupRepository
metadata: {name: main}
spec: {path: repo}
---
apiVersion: stackwright.dev/v1
kind: BackupPolicy
metadata: {name: vol}
spec: {repository: main, sources: {volumes: [data]}}
"""
DB_SPEC = """
---
apiVersion: stackwright.dev/v1
kind: Database
metadata: {name: db}
spec: {database: bench, deleteData: true, resources: {memory: 1g}}
---
apiVersion: stackwright.dev/v1
kind: BackupPolicy
metadata: {name: pg}
spec: {repository: main, sources: {databases: [db]}}
---
apiVersion: stackwright.dev/v1
kind: RestoreDrill
metadata: {name: drill}
spec:
  policy: pg
  checks: {sql: [{query: "SELECT count(*) > 0 FROM payload", expect: [[true]]}]}
"""


class Breakdown:
    """Seconds spent in the steps of our runs (restic calls by subcommand, scratch servers,
    podman), gathered by wrapping those functions while the benchmark runs."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, module: Any, attr: str, label: Callable[..., str] | None = None) -> None:
        inner = getattr(module, attr)

        def timed_call(*args: Any, **kwargs: Any) -> Any:
            key = label(*args, **kwargs) if label else attr
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - start

        setattr(module, attr, timed_call)

    def take(self) -> dict[str, float]:
        taken = {k: round(v, 3) for k, v in sorted(self.seconds.items())}
        self.seconds.clear()
        return taken


BREAKDOWN = Breakdown()


def instrument() -> None:
    from stackwright.recover import platform, restore, scratch
    from stackwright.tools import podman, restic

    BREAKDOWN.wrap(restic, "run", lambda repo, args, **_: f"restic {args[0]}")
    BREAKDOWN.wrap(restic, "dump_to", lambda *a, **k: f"restic dump | {a[3][0]}")
    BREAKDOWN.wrap(restic, "backup_stream", lambda *a, **k: f"{a[1][0]} | restic backup")
    BREAKDOWN.wrap(restic, "backup_paths", lambda *a, **k: "restic backup (paths)")
    for name in ("empty_postgres", "new_postgres_dir"):
        BREAKDOWN.wrap(scratch, name)
    BREAKDOWN.wrap(podman.Podman, "volume_create")
    BREAKDOWN.wrap(restore, "choose")
    BREAKDOWN.wrap(platform.Platform, "repo", lambda *a, **k: "open repository (secrets)")


def step(fn: Callable[[], Any], into: dict[str, Any], name: str) -> tuple[float, Any]:
    """``timed(fn)``, with the breakdown of its time kept under ``breakdown.<name>``."""
    BREAKDOWN.take()
    took, result = timed(fn)
    into.setdefault("breakdown", {})[name] = {"total": round(took, 3), **BREAKDOWN.take()}
    return took, result


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


@contextmanager
def secrets_api(root: Path) -> Iterator[None]:
    import hvac

    from stackwright.secrets.api import serve
    from stackwright.secrets.store import SecretsSettings, SecretsStore

    settings = SecretsSettings(database_url=f"sqlite:///{root / 'secrets.db'}",
                               audit_path=root / "audit.jsonl", lease_sweep_interval=0)
    store = SecretsStore.open(settings)
    try:
        with serve(store) as running:
            client = hvac.Client(url=running.url)
            init = client.sys.initialize(1, 1)
            client.sys.submit_unseal_keys(init["keys"][:1])
            os.environ["VAULT_ADDR"] = running.url  # a secrets server, not a daemon
            os.environ["VAULT_TOKEN"] = init["root_token"]
            yield
    finally:
        store.close()


def fill_dir(folder: Path, mib: int) -> None:
    for n in range(max(1, mib // FILE_MIB)):
        with open(folder / f"file{n:04d}.bin", "wb") as out:
            out.write(os.urandom(min(mib, FILE_MIB) << 20))


def change_one_percent(folder: Path, mib: int, seed: int = 0) -> None:
    """Rewrite 1% of the bytes, in 64 KiB pieces spread over the files (other places for
    another ``seed``)."""
    files = sorted(folder.glob("file*.bin"))
    pieces = max(1, (mib << 20) // 100 // (64 << 10))
    for i in range(pieces):
        path = files[i % len(files)]
        size = path.stat().st_size
        with open(path, "r+b") as out:
            out.seek(((i + seed * 104729) * 7919 * (64 << 10)) % max(size - (64 << 10), 1))
            out.write(os.urandom(64 << 10))


def restic_env(password: str) -> dict[str, str]:
    return {**os.environ, "RESTIC_PASSWORD": password}


def floor_volume(folder: Path, work: Path, password: str, mib: int) -> dict[str, float]:
    repo = work / "floor-repo"
    env = restic_env(password)
    subprocess.run(["restic", "-r", str(repo), "init", "-q"], env=env, check=True)
    base = ["restic", "-r", str(repo), "--cache-dir", str(work / "floor-cache")]
    full, _ = timed(lambda: subprocess.run([*base, "backup", "-q", "."], cwd=folder, env=env,
                                           check=True))
    return {"backup": full}


def floor_restore(work: Path, password: str) -> float:
    """Plain ``restic restore`` of the newest snapshot, as ours restores it: after the
    incremental backup, so both read the same data at the same point."""
    base = ["restic", "-r", str(work / "floor-repo"), "--cache-dir", str(work / "floor-cache")]
    target = work / "floor-restore"
    took, _ = timed(lambda: subprocess.run([*base, "restore", "latest", "--target",
                                            str(target), "-q"], env=restic_env(password),
                                           check=True))
    shutil.rmtree(target)
    return took


def floor_incremental(folder: Path, work: Path, password: str) -> float:
    base = ["restic", "-r", str(work / "floor-repo"), "--cache-dir", str(work / "floor-cache")]
    took, _ = timed(lambda: subprocess.run([*base, "backup", "-q", "."], cwd=folder,
                                           env=restic_env(password), check=True))
    return took


def fill_database(url: str, mib: int) -> None:
    import psycopg

    rows = mib * 1024  # about 1 KiB a row
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE payload (id bigint PRIMARY KEY, body text)")
        step = 50_000
        for first in range(1, rows + 1, step):
            last = min(rows, first + step - 1)
            conn.execute(  # md5 chains: text that does not compress much
                "INSERT INTO payload SELECT g, (SELECT string_agg(md5(g::text || i::text), '') "
                "FROM generate_series(1, 30) i) FROM generate_series(%s, %s) g",
                (first, last))


def floor_database(db: dict[str, Any]) -> float:
    from stackwright.recover import scratch
    from stackwright.recover.capture import passfile

    pg = scratch.empty_postgres()
    try:
        with passfile(scratch.HOST, pg.port, pg.user, pg.password) as local, \
                passfile(db["host"], db["port"], db["user"], db["password"]) as live:
            joined = Path(tempfile.mkdtemp()) / "pgpass"
            joined.write_text(live.read_text() + local.read_text())
            os.chmod(joined, 0o600)
            env = {**os.environ, "PGPASSFILE": str(joined)}
            subprocess.run(["psql", "-X", "-q", "-h", scratch.HOST, "-p", str(pg.port), "-U",
                            "postgres", "-d", "postgres", "-c", "CREATE DATABASE bench"],
                           env=env, check=True)
            cmd = (f"set -o pipefail; pg_dump -Fc -h {db['host']} -p {db['port']} "
                   f"-U {db['user']} -d {db['database']} | pg_restore --no-owner --no-acl "
                   f"-h {scratch.HOST} -p {pg.port} -U postgres -d bench")
            took, _ = timed(lambda: subprocess.run(["bash", "-c", cmd], env=env, check=True))
            joined.unlink()
        return took
    finally:
        pg.stop()


def apply(root: Path, spec: str) -> None:
    (root / "main.yaml").write_text(spec)
    done = subprocess.run([str(Path(sys.executable).with_name("stackwright")), "-C", str(root),
                           "apply", "--yes"], capture_output=True, text=True, timeout=1800)
    if done.returncode:
        raise SystemExit(f"apply failed:\n{done.stdout}\n{done.stderr}")


def ratio(ours: float, floor: float) -> float:
    return round(ours / floor, 3) if floor > 0 else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--skip-db", action="store_true", help="only the volume figures")
    parser.add_argument("--repeat", type=int, default=4,
                        help="incremental backups and restores of each side (medians are "
                             "compared)")
    args = parser.parse_args()
    mib = args.size_mib
    work = Path(tempfile.mkdtemp(prefix="sw-bench-backup-"))
    name = f"benchbk{uuid.uuid4().hex[:6]}"
    os.environ["STACKWRIGHT_KEY_DIR"] = str(work / "keys")
    root = work / "proj"
    root.mkdir()
    (root / "stackwright.yaml").write_text(
        f"project: {name}\nsettings:\n  images: {{cacheDir: /var/tmp/stackwright-test-cache}}\n")
    figures: dict[str, Any] = {"size_mib": mib}
    try:
        with secrets_api(work):
            figures.update(run(root, work, mib, args.skip_db, max(1, args.repeat)))
    finally:
        from stackwright.tools.podman import Podman, PodmanSettings, StackwrightLabels

        Podman(PodmanSettings()).remove_labelled(StackwrightLabels(project=name).as_dict())
        shutil.rmtree(work, ignore_errors=True)
    ratios = {k[:-6]: v for k, v in figures.items() if k.endswith("_ratio")}
    print(json.dumps({"benchmark": "backup", **figures, "target": TARGET,
                      "met": all(v <= TARGET for v in ratios.values())}))


def incrementals(platform: Any, folder: Path, work: Path, password: str, mib: int,
                 repeat: int, out: dict[str, Any], run_policy: Any) -> tuple[float, float, Any]:
    """``repeat`` rounds of: 1% of the bytes changed, then both sides back up that same state
    (alternating which goes first); the medians, and our last run."""
    floors: list[float] = []
    ours: list[float] = []
    last: Any = None

    def one_ours() -> None:
        nonlocal last
        took, last = step(lambda: run_policy(platform, "vol"), out, "volume_incremental")
        assert last.status == "succeeded", last.reason
        ours.append(took)

    def one_floor() -> None:
        floors.append(floor_incremental(folder, work, password))

    for n in range(repeat):
        change_one_percent(folder, mib, seed=n)
        subprocess.run(["sync"], check=False)
        for side in ((one_floor, one_ours) if n % 2 else (one_ours, one_floor)):
            side()
    out["volume_incremental_samples"] = {"floor": [round(x, 3) for x in floors],
                                         "ours": [round(x, 3) for x in ours]}
    return statistics.median(floors), statistics.median(ours), last


def restores(platform: Any, work: Path, password: str, repeat: int, out: dict[str, Any],
             restore_policy: Any, discard: Any) -> tuple[float, float]:
    """The floor's restore and ours, ``repeat`` times each, in alternating order (floor then
    ours, ours then floor, ...) after a ``sync`` each: the medians. On a shared host one
    sample of each is mostly noise, and a fixed order favours one side (what the other just
    wrote is still being flushed)."""
    floors: list[float] = []
    ours: list[float] = []

    def one_ours() -> None:
        subprocess.run(["sync"], check=False)
        took, (restored, _) = step(lambda: restore_policy(platform, "vol"), out,
                                   "volume_restore")
        discard(restored)
        ours.append(took)

    def one_floor() -> None:
        subprocess.run(["sync"], check=False)
        floors.append(floor_restore(work, password))

    for n in range(repeat):
        for side in ((one_floor, one_ours) if n % 2 == 0 else (one_ours, one_floor)):
            side()
    out["volume_restore_samples"] = {"floor": [round(x, 3) for x in floors],
                                     "ours": [round(x, 3) for x in ours]}
    return statistics.median(floors), statistics.median(ours)


def run(root: Path, work: Path, mib: int, skip_db: bool, repeat: int = 1) -> dict[str, Any]:
    from stackwright.core.engine import Engine
    from stackwright.recover.backup import run_policy
    from stackwright.recover.capture import volume_dir
    from stackwright.recover.drills import run_drill
    from stackwright.recover.platform import Platform
    from stackwright.recover.restore import discard, restore_policy

    apply(root, SPEC + ("" if skip_db else DB_SPEC))
    instrument()
    engine = Engine(root)
    platform = Platform(engine)
    out: dict[str, Any] = {}
    try:
        folder = volume_dir(platform, platform.sources(platform.policy("vol"))[0])
        fill_dir(folder, mib)
        # The data just written is still being flushed: both full backups start after it is.
        subprocess.run(["sync"], check=False)
        password = platform.repo(platform.policy("vol")).env["RESTIC_PASSWORD"]
        ours_backup, first = step(lambda: run_policy(platform, "vol"), out, "volume_backup")
        assert first.status == "succeeded", first.reason
        subprocess.run(["sync"], check=False)
        floor = floor_volume(folder, work, password, mib)
        floor_incr, ours_incr, second = incrementals(platform, folder, work, password, mib,
                                                     repeat, out, run_policy)
        floor["restore"], ours_restore = restores(platform, work, password, repeat, out,
                                                  restore_policy, discard)
        out.update(volume_backup_s=round(ours_backup, 3), volume_backup_floor_s=round(
            floor["backup"], 3), volume_backup_ratio=ratio(ours_backup, floor["backup"]),
            volume_incremental_s=round(ours_incr, 3), volume_incremental_floor_s=round(
                floor_incr, 3), volume_incremental_ratio=ratio(ours_incr, floor_incr),
            volume_incremental_added_bytes=second.details["added"],
            volume_restore_s=round(ours_restore, 3), volume_restore_floor_s=round(
                floor["restore"], 3), volume_restore_ratio=ratio(ours_restore,
                                                                 floor["restore"]),
            volume_backup_mib_s=round(mib / ours_backup, 1))
        if not skip_db:
            db = database(platform, mib, run_policy, restore_policy, discard, run_drill)
            out.setdefault("breakdown", {}).update(db.pop("breakdown"))
            out.update(db)
    finally:
        platform.close()
        engine.close()
    return out


def database(platform: Any, mib: int, run_policy: Any, restore_policy: Any, discard: Any,
             run_drill: Any) -> dict[str, Any]:
    db = dict(platform.recorded("Database", "db").outputs)
    fill_database(db["url"], mib)
    floor = floor_database(db)
    out: dict[str, Any] = {}
    backup_s, done = step(lambda: run_policy(platform, "pg"), out, "db_backup")
    assert done.status == "succeeded", done.reason
    restore_s, (restored, _) = step(lambda: restore_policy(platform, "pg"), out, "db_restore")
    discard(restored)
    drill = run_drill(platform, "drill")
    assert drill.status == "succeeded", drill.reason
    ours = backup_s + restore_s
    return {**out, "db_backup_s": round(backup_s, 3), "db_restore_s": round(restore_s, 3),
            "db_backup_plus_restore_s": round(ours, 3),
            "db_floor_dump_restore_s": round(floor, 3), "db_ratio": ratio(ours, floor),
            "db_bytes": done.details["bytes"], "drill_rto_s": drill.details["rto"],
            "drill_rpo_s": drill.details["rpo"]}


if __name__ == "__main__":
    main()
