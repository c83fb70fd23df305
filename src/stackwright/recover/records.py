"""The recover domain's records in the state database: one row per run of a backup, a
retention pass, a repository check, a restore or a drill (``recover_runs``)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from stackwright.core.state.domains import migrate, open_domain_engine
from stackwright.errors import StateError

PREFIX = "recover_"
MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATING = threading.Lock()
metadata = sa.MetaData()
runs = sa.Table(
    "recover_runs", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("project", sa.String(200), nullable=False),
    sa.Column("environment", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("scheduled_for", sa.String(40), nullable=True),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("finished_at", sa.String(40), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("details", sa.Text, nullable=False),
    sa.Index("recover_runs_by_name", "project", "environment", "kind", "name", "started_at"),
)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Run:
    """A run of ``kind`` (backup, retention, check, restore, drill) for resource ``name``."""

    kind: str
    name: str
    started_at: str = field(default_factory=now_iso)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    scheduled_for: str | None = None
    finished_at: str | None = None
    status: str = "running"
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "name": self.name,
                "scheduled_for": self.scheduled_for, "started_at": self.started_at,
                "finished_at": self.finished_at, "status": self.status, "reason": self.reason,
                **self.details}


class Records:
    """The runs of one project and environment."""

    def __init__(self, engine: Engine, project: str, environment: str) -> None:
        self.engine, self.project, self.environment = engine, project, environment

    @classmethod
    def open(cls, state_url: str, project: str, environment: str) -> Records:
        engine = open_domain_engine(state_url)
        with _MIGRATING:  # Alembic's context is global to the process
            try:
                migrate(engine, MIGRATIONS, PREFIX)
            except StateError:  # another process made the tables at the same moment
                time.sleep(0.5)
                migrate(engine, MIGRATIONS, PREFIX)
        return cls(engine, project, environment)

    def close(self) -> None:
        self.engine.dispose()

    def save(self, run: Run) -> None:
        row = {"project": self.project, "environment": self.environment, "kind": run.kind,
               "name": run.name, "scheduled_for": run.scheduled_for,
               "started_at": run.started_at, "finished_at": run.finished_at,
               "status": run.status, "reason": run.reason,
               "details": json.dumps(run.details, default=str)}
        with self.engine.begin() as conn:
            done = conn.execute(runs.update().where(runs.c.id == run.id).values(**row))
            if done.rowcount == 0:
                conn.execute(runs.insert().values(id=run.id, **row))

    def list(self, kind: str, name: str | None = None, limit: int = 100) -> list[Run]:
        query = (sa.select(runs).where(runs.c.project == self.project,
                                       runs.c.environment == self.environment,
                                       runs.c.kind == kind)
                 .order_by(runs.c.started_at.desc()).limit(limit))
        if name is not None:
            query = query.where(runs.c.name == name)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [Run(kind=r["kind"], name=r["name"], started_at=r["started_at"], id=r["id"],
                    scheduled_for=r["scheduled_for"], finished_at=r["finished_at"],
                    status=r["status"], reason=r["reason"], details=json.loads(r["details"]))
                for r in rows]

    def last_scheduled(self, kind: str, name: str) -> str | None:
        """The latest scheduled time a run of ``name`` accounted for."""
        query = (sa.select(sa.func.max(runs.c.scheduled_for))
                 .where(runs.c.project == self.project, runs.c.environment == self.environment,
                        runs.c.kind == kind, runs.c.name == name))
        with self.engine.connect() as conn:
            found = conn.execute(query).scalar()
        return str(found) if found else None
