"""Run history in the state database: runs, jobs, steps, artifacts, trigger positions.

The tables are also how processes coordinate: a CLI asks to cancel or approves by writing a
row, and the runner (in the daemon or a foreground ``pipeline run``) reads it between steps.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from stackwright.core.state.domains import migrate, open_domain_engine
from stackwright.errors import StateError
from stackwright.pipelines import schema
from stackwright.pipelines.dag import PlannedJob

MIGRATIONS = Path(__file__).parent / "migrations"
PREFIX = "pipelines_"
FINISHED = frozenset({"success", "failed", "cancelled", "interrupted", "skipped"})


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str | None) -> bool:
    """Whether the process that claimed a run still runs (on this host)."""
    if not owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return True  # another machine's runner: not ours to judge
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return True


class RunStore:
    """The pipelines tables of one project and environment."""

    def __init__(self, engine: Engine, project: str, environment: str) -> None:
        self.db = engine
        self.project = project
        self.environment = environment

    @classmethod
    def open(cls, url: str, project: str, environment: str) -> RunStore:
        engine = open_domain_engine(url)
        for attempt in range(3):
            try:
                migrate(engine, MIGRATIONS, PREFIX)
                break
            except StateError:
                # Two processes opening a new database at once: one creates the tables,
                # the other's CREATE fails; by the next try they exist.
                if attempt == 2:
                    raise
                time.sleep(0.5 * (attempt + 1))
        return cls(engine, project, environment)

    def _scope(self) -> Any:
        return sa.and_(schema.runs.c.project == self.project,
                       schema.runs.c.environment == self.environment)

    # -- runs ------------------------------------------------------------------------------
    def create_run(self, pipeline: str, *, trigger: str, ref: str, sha: str,
                   definition: Mapping[str, Any], source: str, group: str | None,
                   jobs: Iterable[PlannedJob], rerun_of: str | None = None,
                   kept: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
        """A queued run with its jobs pending; ``kept`` jobs (a rerun's passed ones) are
        copied as they finished."""
        run_id = uuid.uuid4().hex[:12]
        now = time.time()
        with self.db.begin() as conn:
            number = conn.execute(
                sa.select(sa.func.coalesce(sa.func.max(schema.runs.c.number), 0))
                .where(self._scope(), schema.runs.c.pipeline == pipeline)).scalar_one() + 1
            conn.execute(schema.runs.insert().values(
                id=run_id, project=self.project, environment=self.environment,
                pipeline=pipeline, number=number, status="queued", trigger=trigger, ref=ref,
                sha=sha, definition=json.dumps(definition), source=source,
                concurrency_group=group, rerun_of=rerun_of, cancel_requested=False,
                created=now))
            for job in jobs:
                row = dict((kept or {}).get(job.name) or {})
                conn.execute(schema.jobs.insert().values(
                    run_id=run_id, name=job.name, source=job.source,
                    needs=json.dumps(list(job.needs)), matrix=json.dumps(dict(job.matrix)),
                    status=row.get("status", "pending"), attempt=0,
                    environment=job.job.environment, outputs=row.get("outputs", "{}"),
                    exit_code=row.get("exit_code"), started=row.get("started"),
                    finished=row.get("finished"), tests=row.get("tests")))
        return self.run(run_id)

    def run(self, ref: str) -> dict[str, Any]:
        """A run by id (or a unique id prefix, or ``PIPELINE#N``)."""
        query = sa.select(schema.runs).where(self._scope())
        if "#" in ref:
            name, _, number = ref.partition("#")
            if not (number.isascii() and number.isdigit() and len(number) <= 12):
                raise StateError(f"no pipeline run {ref!r}: after '#' comes the run's number",
                                 hint="name a run as PIPELINE#N or by its id; see "
                                      "stackwright pipeline list")
            query = query.where(schema.runs.c.pipeline == name,
                                schema.runs.c.number == int(number))
        else:
            query = query.where(schema.runs.c.id.startswith(ref))
        with self.db.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query.limit(2))]
        if len(rows) != 1:
            raise StateError(f"no pipeline run {ref!r}" if not rows else
                             f"run id prefix {ref!r} is ambiguous",
                             hint="see stackwright pipeline list")
        return rows[0]

    def runs(self, pipeline: str | None = None, limit: int = 50,
             statuses: Iterable[str] | None = None) -> list[dict[str, Any]]:
        query = sa.select(schema.runs).where(self._scope())
        if pipeline:
            query = query.where(schema.runs.c.pipeline == pipeline)
        if statuses is not None:
            query = query.where(schema.runs.c.status.in_(list(statuses)))
        query = query.order_by(schema.runs.c.created.desc()).limit(limit)
        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def update_run(self, run_id: str, **values: Any) -> None:
        with self.db.begin() as conn:
            conn.execute(schema.runs.update().where(schema.runs.c.id == run_id).values(**values))

    def claim(self, run_id: str, owner: str) -> bool:
        """Take a queued run to execute; False if another runner took it first."""
        with self.db.begin() as conn:
            done = conn.execute(schema.runs.update().where(
                schema.runs.c.id == run_id, schema.runs.c.status == "queued").values(
                status="running", owner=owner, started=time.time()))
        return bool(done.rowcount)

    def request_cancel(self, run_id: str) -> None:
        with self.db.begin() as conn:
            conn.execute(schema.runs.update().where(schema.runs.c.id == run_id).values(
                cancel_requested=True))
            conn.execute(schema.runs.update().where(
                schema.runs.c.id == run_id, schema.runs.c.status == "queued").values(
                status="cancelled", finished=time.time()))
            conn.execute(schema.jobs.update().where(
                schema.jobs.c.run_id == run_id,
                schema.jobs.c.status.in_(["pending", "waiting"]),
                ~sa.exists().where(schema.runs.c.id == run_id,
                                   schema.runs.c.status == "running")).values(
                status="cancelled"))

    def cancel_requested(self, run_id: str) -> bool:
        with self.db.connect() as conn:
            return bool(conn.execute(sa.select(schema.runs.c.cancel_requested)
                                     .where(schema.runs.c.id == run_id)).scalar())

    # -- jobs and steps --------------------------------------------------------------------
    def jobs(self, run_id: str) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            rows = conn.execute(sa.select(schema.jobs).where(schema.jobs.c.run_id == run_id))
            return [dict(r._mapping) for r in rows]

    def job(self, run_id: str, name: str) -> dict[str, Any]:
        for row in self.jobs(run_id):
            if row["name"] == name:
                return row
        raise StateError(f"run {run_id} has no job {name!r}",
                         hint=f"stackwright pipeline show {run_id}")

    def update_job(self, run_id: str, name: str, **values: Any) -> None:
        with self.db.begin() as conn:
            conn.execute(schema.jobs.update().where(schema.jobs.c.run_id == run_id,
                                                    schema.jobs.c.name == name).values(**values))

    def approve(self, run_id: str, name: str, who: str) -> None:
        with self.db.begin() as conn:
            conn.execute(schema.jobs.update().where(
                schema.jobs.c.run_id == run_id, schema.jobs.c.name == name).values(
                approved_by=who))

    def step(self, run_id: str, job: str, idx: int, **values: Any) -> None:
        key = {"run_id": run_id, "job": job, "idx": idx}
        with self.db.begin() as conn:
            done = conn.execute(schema.steps.update().where(
                *(schema.steps.c[k] == v for k, v in key.items())).values(**values))
            if not done.rowcount:
                conn.execute(schema.steps.insert().values(**key, **values))

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            rows = conn.execute(sa.select(schema.steps).where(schema.steps.c.run_id == run_id)
                                .order_by(schema.steps.c.job, schema.steps.c.idx))
            return [dict(r._mapping) for r in rows]

    # -- artifacts and triggers ------------------------------------------------------------
    def add_artifact(self, run_id: str, job: str, path: str, size: int,
                     retention: float) -> None:
        """A job's artifact, kept ``retention`` seconds from now."""
        with self.db.begin() as conn:
            conn.execute(schema.artifacts.delete().where(schema.artifacts.c.run_id == run_id,
                                                         schema.artifacts.c.job == job))
            conn.execute(schema.artifacts.insert().values(
                run_id=run_id, job=job, path=path, size=size, retention=retention,
                expires=time.time() + retention))

    def due_artifacts(self, now: float) -> list[dict[str, Any]]:
        """Artifacts of this project and environment past their retention, not yet removed."""
        a = schema.artifacts.c
        query = (sa.select(schema.artifacts).join(schema.runs, schema.runs.c.id == a.run_id)
                 .where(self._scope(), a.expires <= now, a.expired.is_(None)))
        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def mark_expired(self, run_id: str, job: str, when: float) -> None:
        with self.db.begin() as conn:
            conn.execute(schema.artifacts.update().where(
                schema.artifacts.c.run_id == run_id, schema.artifacts.c.job == job).values(
                expired=when))

    def artifacts(self, run_id: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(schema.artifacts)
        if run_id is not None:
            query = query.where(schema.artifacts.c.run_id == run_id)
        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def drop_artifact(self, run_id: str, job: str) -> None:
        with self.db.begin() as conn:
            conn.execute(schema.artifacts.delete().where(schema.artifacts.c.run_id == run_id,
                                                         schema.artifacts.c.job == job))

    def trigger_value(self, pipeline: str, key: str) -> str | None:
        t = schema.triggers.c
        with self.db.connect() as conn:
            value = conn.execute(sa.select(t.value).where(
                t.project == self.project, t.environment == self.environment,
                t.pipeline == pipeline, t.key == key)).scalar()
        return None if value is None else str(value)

    def set_trigger_value(self, pipeline: str, key: str, value: str) -> None:
        t = schema.triggers.c
        where = (t.project == self.project, t.environment == self.environment,
                 t.pipeline == pipeline, t.key == key)
        with self.db.begin() as conn:
            done = conn.execute(schema.triggers.update().where(*where).values(
                value=value, updated=time.time()))
            if not done.rowcount:
                conn.execute(schema.triggers.insert().values(
                    project=self.project, environment=self.environment, pipeline=pipeline,
                    key=key, value=value, updated=time.time()))

    # -- recovery --------------------------------------------------------------------------
    def interrupt_orphans(self) -> list[str]:
        """Runs whose runner process is gone: running jobs become interrupted, the run too.
        Returns their ids."""
        orphans = [r["id"] for r in self.runs(statuses=["running"], limit=1000)
                   if not owner_alive(r["owner"])]
        now = time.time()
        with self.db.begin() as conn:
            for run_id in orphans:
                conn.execute(schema.jobs.update().where(
                    schema.jobs.c.run_id == run_id,
                    schema.jobs.c.status.in_(["running", "waiting", "pending"])).values(
                    status="interrupted", finished=now,
                    error="the runner stopped (daemon restart) while this job ran"))
                conn.execute(schema.runs.update().where(schema.runs.c.id == run_id).values(
                    status="interrupted", finished=now))
        return orphans
