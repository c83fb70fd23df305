"""Alembic environment of the recover_* tables."""

from stackwright.core.state.domains import run_migrations
from stackwright.recover.records import metadata

run_migrations(metadata, "recover_")
