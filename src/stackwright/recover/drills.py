"""Restore drills: the newest backup of a policy restored into scratch instances, verified by
the declared checks, timed and aged, compared with the objectives, and recorded."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

from stackwright.durations import period
from stackwright.errors import StackwrightError
from stackwright.recover import alerts, resp
from stackwright.recover.kinds import DrillSpec, PolicySpec
from stackwright.recover.platform import Platform
from stackwright.recover.records import Run, now_iso
from stackwright.recover.restore import Restored, _snap_time, discard, restore_policy
from stackwright.tools._proc import tail
from stackwright.tools.restic import Snapshot


class CheckFailed(StackwrightError):
    """A drill's verification did not pass."""


def _first(restored: list[Restored], kind: str, name: str | None) -> Restored:
    for item in restored:
        if item.source.startswith(f"{kind}/") and (name is None
                                                     or item.source == f"{kind}/{name}"):
            return item
    raise CheckFailed(f"no restored {kind}{'/' + name if name else ''} to check",
                      hint=f"the policy must back up that {kind}")


def _sql_checks(spec: DrillSpec, restored: list[Restored]) -> int:
    import psycopg

    for number, check in enumerate(spec.checks.sql, 1):
        item = _first(restored, "Database", check.database)
        with psycopg.connect(item.where["url"], connect_timeout=10, autocommit=True) as conn:
            try:
                rows = [list(r) for r in conn.execute(check.query.encode()).fetchall()]
            except psycopg.Error as exc:
                raise CheckFailed(f"checks.sql[{number - 1}]: {check.query!r} failed: "
                                  f"{str(exc).strip()}") from exc
        expected = [list(r) for r in check.expect]
        if _plain(rows) != _plain(expected):
            raise CheckFailed(f"checks.sql[{number - 1}]: {check.query!r} returned {rows}, "
                              f"expected {expected}")
    return len(spec.checks.sql)


def _plain(rows: list[list[Any]]) -> list[list[str]]:
    return [[str(v) for v in row] for row in rows]


def _redis_checks(spec: DrillSpec, restored: list[Restored]) -> int:
    for number, check in enumerate(spec.checks.redis):
        item = _first(restored, "Cache", check.cache)
        url = str(item.where["url"])
        password = url.split("://:", 1)[1].split("@", 1)[0]
        from urllib.parse import unquote

        got = resp.call(item.where["host"], int(item.where["port"]), unquote(password),
                        check.command)
        if check.expect is not None and str(got) != str(check.expect):
            raise CheckFailed(f"checks.redis[{number}]: {' '.join(check.command)} returned "
                              f"{got!r}, expected {check.expect!r}")
    return len(spec.checks.redis)


def scratch_env(restored: list[Restored]) -> dict[str, str]:
    """SCRATCH_<NAME>_URL (databases, caches) and SCRATCH_<NAME>_DIR (volumes, files)."""
    import re

    env: dict[str, str] = {}
    for item in restored:
        name = re.sub(r"[^A-Z0-9]", "_", item.source.split("/", 1)[1].upper())
        if "url" in item.where:
            env[f"SCRATCH_{name}_URL"] = str(item.where["url"])
        if "path" in item.where:
            env[f"SCRATCH_{name}_DIR"] = str(item.where["path"])
    return env


def _command_check(spec: DrillSpec, restored: list[Restored], cwd: str) -> int:
    if not spec.checks.command:
        return 0
    try:
        done = subprocess.run(spec.checks.command, capture_output=True, text=True, cwd=cwd,
                              env={**os.environ, **scratch_env(restored)},
                              timeout=spec.checks.timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise CheckFailed(f"checks.command did not finish in {spec.checks.timeout}s") from exc
    except FileNotFoundError as exc:
        raise CheckFailed(f"checks.command: {spec.checks.command[0]} not found") from exc
    if done.returncode:
        said = tail(done.stderr or done.stdout, 6)
        raise CheckFailed(f"checks.command exited {done.returncode}" +
                          (f": {said}" if said else ""))
    return 1


def _service_check(platform: Platform, spec: DrillSpec, restored: list[Restored]) -> int:
    if spec.checks.service is None:
        return 0
    from stackwright.recover.service_check import check_service

    return check_service(platform, spec.checks.service, restored)


def objectives_missed(policy: PolicySpec, rto: float, rpo: float) -> list[str]:
    missed = []
    if policy.objectives.rto and rto > period(policy.objectives.rto).total_seconds():
        missed.append(f"RTO {rto:.1f}s is over the objective {policy.objectives.rto}")
    if policy.objectives.rpo and rpo > period(policy.objectives.rpo).total_seconds():
        missed.append(f"RPO {rpo:.1f}s is over the objective {policy.objectives.rpo}")
    return missed


def _newest(snaps: list[Restored]) -> datetime:
    times = [_snap_time(Snapshot("", "", s.time, (), (), "")) for s in snaps]
    return min(times)  # the oldest restored source bounds what the whole restore recovers


def run_drill(platform: Platform, name: str, *, scheduled_for: str | None = None) -> Run:
    """One drill now; the recorded run (status failed with the reason when it fails)."""
    run = Run(kind="drill", name=name, scheduled_for=scheduled_for)
    platform.records.save(run)
    restored: list[Restored] = []
    spec: DrillSpec | None = None
    try:
        spec = platform.drill(name)
        policy = platform.policy(spec.policy)
        started = time.monotonic()
        restored, _ = restore_policy(platform, spec.policy, target="scratch")
        restored_s = time.monotonic() - started
        checks = (_sql_checks(spec, restored) + _redis_checks(spec, restored)
                  + _command_check(spec, restored, str(platform.engine.root))
                  + _service_check(platform, spec, restored))
        rto = time.monotonic() - started
        rpo = (datetime.now(UTC) - _newest(restored)).total_seconds()
        missed = objectives_missed(policy, rto, rpo)
        run.details = {"policy": spec.policy, "rto": round(rto, 3), "rpo": round(rpo, 3),
                       "restore_seconds": round(restored_s, 3), "checks": checks,
                       "objectives": policy.objectives.model_dump(),
                       "restored": [r.to_json() for r in restored]}
        run.status = "failed" if missed else "succeeded"
        run.reason = "; ".join(missed) or None
    except StackwrightError as exc:
        run.status, run.reason = "failed", str(exc)
    finally:
        if spec is None or not spec.keepScratch:
            discard(restored)
    run.finished_at = now_iso()
    platform.records.save(run)
    if run.status == "failed":
        alerts.send(alerts.Alert(
            name="RestoreDrillFailed", severity="critical", project=platform.project,
            environment=platform.environment, resource=f"RestoreDrill/{name}",
            summary=f"restore drill {name} failed: {run.reason}", run=run.id,
            at=run.finished_at, values={k: run.details.get(k) for k in ("rto", "rpo")},
            project_dir=str(platform.engine.root)))
    return run
