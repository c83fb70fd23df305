"""Rollout records in the state database, shared between the process running a rollout and
any CLI process that looks at it or acts on it.

The runner (an ``apply``, in the CLI or the daemon) :meth:`RolloutStore.begin`\\ s a record —
refused while another live rollout of the service runs — updates it at every step and takes
the commands the CLI leaves in it (:meth:`RolloutStore.request`: promote, pause, resume,
abort, undo). A record whose runner process is gone is ``interrupted`` at the next begin.
Aborts, promotions and undos are appended to the hash-chained audit log as well.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from stackwright.core.state import audit
from stackwright.core.state.domains import migrate
from stackwright.core.state.engine import BEGIN_KEY, connect
from stackwright.core.state.records import AuditEvent
from stackwright.delivery.schema import PREFIX, rollouts
from stackwright.errors import PermanentError, StackwrightError

MIGRATIONS = Path(__file__).parent / "migrations"
ACTIVE = ("progressing", "paused", "switched")  # a runner is at work
COMMANDS = ("promote", "pause", "resume", "abort", "undo")


class RolloutBusy(PermanentError):
    """Another rollout of the service is running."""


@dataclass(frozen=True)
class RolloutRecord:
    id: int
    project: str
    env: str
    service: str
    strategy: str
    stable: str
    revision: str
    state: str
    step: int
    steps: int
    weight: int
    message: str
    command: str | None
    runner_pid: int
    runner_host: str
    actor: str
    measurements: list[dict[str, Any]]
    events: list[dict[str, Any]]
    started_at: str
    updated_at: str
    finished_at: str | None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def runner_alive(self) -> bool:
        if self.runner_host != socket.gethostname():
            return True  # another machine's runner: trust the record
        try:
            os.kill(self.runner_pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def as_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _record(row: Any) -> RolloutRecord:
    data = dict(row)
    data["measurements"] = json.loads(data["measurements"] or "[]")
    data["events"] = json.loads(data["events"] or "[]")
    return RolloutRecord(**data)


class RolloutStore:
    """The ``delivery_rollouts`` table of one state database."""

    def __init__(self, url: str) -> None:
        self.engine = connect(url)
        migrate(self.engine, MIGRATIONS, PREFIX)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self, *, write: bool = False) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.info[BEGIN_KEY] = "BEGIN IMMEDIATE" if write else "BEGIN"
            try:
                with conn.begin():
                    yield conn
            except sa.exc.SQLAlchemyError as exc:
                raise StackwrightError(f"rollout records: database error: {exc}") from exc

    # the runner

    def begin(self, project: str, env: str, service: str, *, strategy: str, stable: str,
              revision: str, steps: int, actor: str) -> RolloutRecord:
        """A new record, unless a live rollout of ``service`` runs (:class:`RolloutBusy`)."""
        with self._tx(write=True) as conn:
            current = self._latest(conn, project, env, service)
            if current is not None and current.active:
                if current.runner_alive():
                    raise busy(current)
                self._set(conn, current.id, state="interrupted", finished_at=now_iso(),
                          message=f"its runner (pid {current.runner_pid}) is gone")
            now = now_iso()
            result = conn.execute(rollouts.insert().values(
                project=project, env=env, service=service, strategy=strategy, stable=stable,
                revision=revision, state="progressing", step=0, steps=steps, weight=0,
                message="starting", command=None, runner_pid=os.getpid(),
                runner_host=socket.gethostname(), actor=actor, measurements="[]",
                events=json.dumps([{"at": now, "what": "started"}]), started_at=now,
                updated_at=now, finished_at=None))
            key = result.inserted_primary_key
            assert key is not None
            return self._get(conn, int(key[0]))

    def update(self, rollout_id: int, *, event: str | None = None,
               measurements: list[dict[str, Any]] | None = None, **fields: Any) -> RolloutRecord:
        with self._tx(write=True) as conn:
            current = self._get(conn, rollout_id)
            values: dict[str, Any] = dict(fields)
            if event is not None:
                values["events"] = json.dumps([*current.events, {"at": now_iso(),
                                                                  "what": event}])
            if measurements is not None:
                values["measurements"] = json.dumps(measurements)
            self._set(conn, rollout_id, **values)
            return self._get(conn, rollout_id)

    def take_command(self, rollout_id: int) -> str | None:
        """The command the CLI left, cleared (each is acted on once). Looked at with a read
        (the runner asks four times a second); only a command found takes the write lock."""
        with self._tx() as conn:
            command = self._get(conn, rollout_id).command
        if command is None:
            return None
        with self._tx(write=True) as conn:
            result = conn.execute(sa.update(rollouts).where(
                rollouts.c.id == rollout_id, rollouts.c.command == command).values(
                command=None, updated_at=now_iso()))
            return command if result.rowcount else None

    # the CLI

    def request(self, project: str, env: str, service: str, command: str, by: str = ""
                ) -> RolloutRecord:
        """Leave ``command`` for the runner of the service's live rollout (``by``: who asks,
        kept in its events)."""
        if command not in COMMANDS:
            raise PermanentError(f"unknown rollout command {command!r}",
                                 hint="one of " + ", ".join(COMMANDS))
        with self._tx(write=True) as conn:
            current = self._latest(conn, project, env, service)
            if current is None or not current.active:
                state = "no rollout" if current is None else f"rollout {current.id} is " \
                                                             f"{current.state}"
                raise PermanentError(f"cannot {command} {service}: {state}",
                                     hint="`stackwright rollout status SERVICE` shows it")
            events = [*current.events, {"at": now_iso(), "what": f"{command} requested by "
                                                                 f"{by}"}] if by else None
            self._set(conn, current.id, command=command,
                      **({"events": json.dumps(events)} if events else {}))
            return self._get(conn, current.id)

    def latest(self, project: str, env: str, service: str) -> RolloutRecord | None:
        with self._tx() as conn:
            return self._latest(conn, project, env, service)

    def history(self, project: str, env: str, service: str) -> list[RolloutRecord]:
        with self._tx() as conn:
            rows = conn.execute(rollouts.select().where(
                rollouts.c.project == project, rollouts.c.env == env,
                rollouts.c.service == service).order_by(rollouts.c.id)).mappings()
            return [_record(r) for r in rows]

    def get(self, rollout_id: int) -> RolloutRecord | None:
        with self._tx() as conn:
            row = conn.execute(rollouts.select().where(rollouts.c.id == rollout_id)
                               ).mappings().first()
            return None if row is None else _record(row)

    def summary(self, project: str, env: str) -> tuple[dict[tuple[str, str], int],
                                                        list[RolloutRecord]]:
        """Rollouts by (strategy, state), and the latest rollout of each service."""
        with self._tx() as conn:
            counts = {(str(r.strategy), str(r.state)): int(r.n) for r in conn.execute(
                sa.select(rollouts.c.strategy, rollouts.c.state, sa.func.count().label("n"))
                .where(rollouts.c.project == project, rollouts.c.env == env)
                .group_by(rollouts.c.strategy, rollouts.c.state))}
            newest = sa.select(sa.func.max(rollouts.c.id)).where(
                rollouts.c.project == project, rollouts.c.env == env).group_by(
                rollouts.c.service)
            rows = conn.execute(rollouts.select().where(rollouts.c.id.in_(newest))
                                .order_by(rollouts.c.service)).mappings()
            return counts, [_record(r) for r in rows]

    def audit(self, event: AuditEvent) -> None:
        with self._tx(write=True) as conn:
            audit.append(conn, event)

    # rows

    def _latest(self, conn: Connection, project: str, env: str,
                service: str) -> RolloutRecord | None:
        row = conn.execute(rollouts.select().where(
            rollouts.c.project == project, rollouts.c.env == env,
            rollouts.c.service == service).order_by(rollouts.c.id.desc()).limit(1)
        ).mappings().first()
        return None if row is None else _record(row)

    def _get(self, conn: Connection, rollout_id: int) -> RolloutRecord:
        row = conn.execute(rollouts.select().where(rollouts.c.id == rollout_id)
                           ).mappings().one()
        return _record(row)

    def _set(self, conn: Connection, rollout_id: int, **values: Any) -> None:
        conn.execute(sa.update(rollouts).where(rollouts.c.id == rollout_id).values(
            updated_at=now_iso(), **values))


def busy(current: RolloutRecord) -> RolloutBusy:
    return RolloutBusy(
        f"Service/{current.service} is being rolled out: rollout {current.id} "
        f"({current.strategy}, revision {current.revision}) is {current.state} at step "
        f"{current.step}/{current.steps}, {current.weight}% to the new revision, since "
        f"{current.started_at} by {current.actor}",
        hint=f"wait for it (`stackwright rollout status {current.service}`), or end it with "
             f"`stackwright rollout promote|abort {current.service}`")
