"""The database engine of the secrets store, migrated to head when it is opened."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from stackwright.core.state.domains import ALEMBIC_LOCK, open_domain_engine
from stackwright.errors import SecretsError

MIGRATIONS = Path(__file__).parent / "migrations"


def create_secrets_engine(url: str) -> Engine:
    """The state database's engine, as every domain opens it (WAL and a busy timeout on
    SQLite)."""
    return open_domain_engine(url)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(engine: Engine) -> None:
    """Bring the ``secrets_`` tables to the newest revision; other tables are left alone."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    try:
        with ALEMBIC_LOCK, engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "secrets@head")
    except SQLAlchemyError as exc:
        raise SecretsError(
            f"cannot migrate the secrets tables: {exc}", hint="check the database URL"
        ) from exc
