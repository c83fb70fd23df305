"""Alembic environment of the secrets tables; run by :func:`stackwright.secrets.db.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from stackwright.secrets.schema import metadata

VERSION_TABLE = "secrets_alembic_version"


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate sees only this package's tables, not the state store's."""
    return type_ != "table" or (name or "").startswith("secrets_")


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        include_name=_include_name,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("set sqlalchemy.url or pass a connection")
    with create_engine(url).connect() as conn:
        _run(conn)
        conn.commit()


run()
