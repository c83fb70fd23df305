"""Alembic environment of the ``delivery_*`` tables (see ``core.state.domains``)."""

from stackwright.core.state.domains import run_migrations
from stackwright.delivery.schema import PREFIX, metadata

run_migrations(metadata, PREFIX)
