"""Connecting to the state database: URLs, SQLite pragmas, and migrating to head."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from stackwright.core.state.codec import HEAD_REVISION
from stackwright.errors import StateError

MIGRATIONS: Final = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS: Final = 10_000
BEGIN_KEY: Final = "stackwright_begin"
_MIGRATION_LOCK: Final = 0x53574D47  # pg advisory lock key: one migrator at a time


def default_url(project_dir: Path) -> str:
    """``sqlite:///<project>/.stackwright/state.db``."""
    return f"sqlite:///{(project_dir / '.stackwright' / 'state.db').resolve()}"


def parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StateError(f"not a state database URL: {url!r}") from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StateError(
            f"unsupported state database {parsed.drivername!r}",
            hint="use sqlite:///path/state.db or postgresql+psycopg://user@host/db",
        )
    return parsed


def connect(url: str) -> Engine:
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    return create_engine(parsed, pool_pre_ping=True, pool_size=1, max_overflow=2)


def _sqlite_engine(url: URL) -> Engine:
    if url.database and url.database != ":memory:":
        try:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create the state directory for {url.database}") from exc
    engine = create_engine(url, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Take transactions out of the driver's hands so `_sqlite_begin` can say IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        f"busy_timeout={BUSY_TIMEOUT_MS}",
        "foreign_keys=ON",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    """Writers begin IMMEDIATE: they take SQLite's write lock up front (waiting up to the
    busy timeout) instead of failing when a read turns into a write."""
    conn.connection.driver_connection.execute(  # type: ignore[union-attr]
        conn.info.get(BEGIN_KEY, "BEGIN")
    )


def at_head(engine: Engine) -> bool:
    """Whether the schema is already at HEAD_REVISION (one cheap query)."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except SQLAlchemyError:
        return False
    return [r[0] for r in rows] == [HEAD_REVISION]


def migrate(engine: Engine) -> None:
    """Bring the schema to head; concurrent openers wait for each other."""
    if at_head(engine):
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    from stackwright.core.state.domains import ALEMBIC_LOCK

    try:
        with ALEMBIC_LOCK, engine.connect() as conn:
            conn.info[BEGIN_KEY] = "BEGIN IMMEDIATE"
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
            conn.info[BEGIN_KEY] = "BEGIN"
    except SQLAlchemyError as exc:
        raise StateError(f"cannot migrate the state database: {exc}") from exc

def dialect_insert(dialect: str) -> Any:
    """The dialect's INSERT with ON CONFLICT, imported only for the dialect in use (the
    PostgreSQL dialect pulls in asyncio: 40 ms of start-up that SQLite users never need)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert
