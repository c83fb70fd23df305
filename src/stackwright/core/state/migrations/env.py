"""Alembic environment: runs on the connection the state store passes in
(``config.attributes["connection"]``); there is no alembic.ini at runtime."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection


def run_migrations_online() -> None:
    connection: Connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=None,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("stackwright state migrations run online only")
run_migrations_online()
