"""Tables a domain package keeps in the state database, beside the state store's own.

Each domain owns a table prefix (``rollouts_``, ``observe_``, ``pipelines_``…), a SQLAlchemy
``MetaData`` and an Alembic folder of its own, with its own version table
(``<prefix>alembic_version``), so domains migrate independently of each other and of the
core. The folder's ``env.py`` is three lines::

    from stackwright.core.state.domains import run_migrations
    from stackwright.rollouts.schema import metadata
    run_migrations(metadata, "rollouts_")

and :func:`migrate` brings the tables to head when the domain first opens them::

    engine = open_domain_engine(state_url)
    migrate(engine, MIGRATIONS_DIR, "rollouts_")
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from stackwright.errors import StateError

# Alembic runs a migration through module-level proxies (``alembic.context``, ``alembic.op``):
# two threads of one process migrating at once (the daemon's components start side by side)
# would use each other's context. Every migration in the process takes this lock.
ALEMBIC_LOCK = threading.RLock()


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def open_domain_engine(url: str) -> Engine:
    """A SQLAlchemy engine on the state database (WAL and a busy timeout on SQLite)."""
    engine = sa.create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def migrate(engine: Engine, migrations: Path, prefix: str) -> None:
    """Bring the tables named ``prefix*`` to their newest revision; no other table is
    touched. Processes that open the same tables at once (the daemon's components and a CLI)
    migrate one after the other: a file lock beside a SQLite database, an advisory lock on
    PostgreSQL."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.set_main_option("sqlalchemy.url",
                           engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    try:
        with ALEMBIC_LOCK, _migration_lock(engine, prefix), engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"),
                                   {"k": _lock_key(prefix)})
            config.attributes["connection"] = connection
            command.upgrade(config, "heads")
    except SQLAlchemyError as exc:
        raise StateError(f"cannot migrate the {prefix}* tables: {exc}",
                         hint="check the state database URL and that it is writable") from exc


@contextmanager
def _migration_lock(engine: Engine, prefix: str) -> Iterator[None]:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.{prefix}migrate.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _lock_key(prefix: str) -> int:
    """A stable 63-bit advisory-lock key of the prefix."""
    return int.from_bytes(hashlib.sha256(prefix.encode()).digest()[:8], "big") >> 1


def run_migrations(metadata: sa.MetaData, prefix: str) -> None:
    """The body of a domain's Alembic ``env.py``."""
    from alembic import context

    def include_name(name: str | None, type_: str, parent_names: object) -> bool:
        return type_ != "table" or (name or "").startswith(prefix)

    def run(connection: Any) -> None:
        context.configure(connection=connection, target_metadata=metadata,
                          version_table=f"{prefix}alembic_version", include_name=include_name,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()

    connection = context.config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("set sqlalchemy.url or pass a connection")
    with sa.create_engine(url).connect() as conn:
        run(conn)
        conn.commit()
