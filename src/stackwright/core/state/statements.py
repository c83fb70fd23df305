"""The store's hot statements: written in SQLAlchemy Core, compiled once per store for its
dialect, and run on the driver's cursor inside the store's SQLAlchemy transaction. This
skips SQLAlchemy's per-call execution machinery, about three quarters of the cost of a
``record`` on SQLite."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from stackwright.core.state.engine import dialect_insert
from stackwright.core.state.schema import resources, runs, workspaces

_RECORD_COLUMNS = (
    "object_id",
    "status",
    "inputs",
    "outputs",
    "depends_on",
    "sensitive",
    "sensitive_outputs",
    "serial",
)


def _in_workspace(table: Any) -> Any:
    return (table.c.project == bindparam("p")) & (table.c.env == bindparam("e"))


@dataclass(frozen=True)
class Prepared:
    """A statement compiled to the driver's SQL; ``names`` orders positional parameters."""

    sql: str
    names: tuple[str, ...] | None
    constants: Mapping[str, Any]

    @classmethod
    def of(cls, stmt: ClauseElement, dialect: Dialect) -> Prepared:
        compiled = cast(SQLCompiler, stmt.compile(dialect=dialect))
        names = tuple(compiled.positiontup or ()) if compiled.positional else None
        constants = {k: v for k, v in compiled.params.items() if v is not None}
        return cls(compiled.string, names, constants)

    def run(self, conn: Connection, values: Mapping[str, Any]) -> Any:
        """Execute on ``conn``'s driver connection (inside its open transaction)."""
        if self.constants:
            values = {**self.constants, **values}
        params: Sequence[Any] | Mapping[str, Any] = values
        if self.names is not None:
            params = tuple(values[n] for n in self.names)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(self.sql, params)
        return cursor


@dataclass(frozen=True)
class Statements:
    record: Prepared
    mark_started: Prepared
    new_workspace: Prepared
    bump_generation: Prepared
    bump_serial: Prepared
    generation: Prepared
    resources_of: Prepared
    resource: Prepared
    delete_resource: Prepared
    finish_run: Prepared

    @classmethod
    def build(cls, dialect: Dialect) -> Statements:
        return cls(**{k: Prepared.of(v, dialect) for k, v in _core(dialect.name).items()})


def _core(dialect: str) -> dict[str, ClauseElement]:
    insert = dialect_insert(dialect)
    key = [resources.c.project, resources.c.env, resources.c.address]
    ins = insert(resources)
    ws = workspaces.c
    return dict(
        record=ins.on_conflict_do_update(
            index_elements=key, set_={c: ins.excluded[c] for c in _RECORD_COLUMNS}
        ),
        mark_started=ins.on_conflict_do_update(
            index_elements=key,
            set_={c: ins.excluded[c] for c in ("status", "depends_on", "serial")},
        ),
        new_workspace=insert(workspaces).on_conflict_do_nothing(),
        bump_generation=update(workspaces)
        .where(_in_workspace(workspaces))
        .values(generation=ws.generation + 1)
        .returning(ws.generation),
        bump_serial=update(workspaces)
        .where(_in_workspace(workspaces))
        .values(last_serial=ws.last_serial + 1)
        .returning(ws.last_serial),
        generation=select(ws.generation).where(_in_workspace(workspaces)),
        resources_of=select(resources).where(_in_workspace(resources)),
        resource=select(resources).where(
            _in_workspace(resources), resources.c.address == bindparam("a")
        ),
        delete_resource=delete(resources).where(
            _in_workspace(resources), resources.c.address == bindparam("a")
        ),
        finish_run=update(runs)
        .where(_in_workspace(runs), runs.c.serial == bindparam("s"))
        .values(
            status=bindparam("st"),
            finished_at=bindparam("fin"),
            summary=bindparam("sum"),
        ),
    )

