"""Alembic environment of the observe_* tables (run by core.state.domains.migrate)."""

from stackwright.core.state.domains import run_migrations
from stackwright.observe.schema import metadata

run_migrations(metadata, "observe_")
