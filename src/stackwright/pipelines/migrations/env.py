"""Alembic environment of the pipelines_* tables (run by ``RunStore.open``)."""

from stackwright.core.state.domains import run_migrations
from stackwright.pipelines.schema import metadata

run_migrations(metadata, "pipelines_")
