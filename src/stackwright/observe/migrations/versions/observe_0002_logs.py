"""observe: the log store in PostgreSQL (lines, read offsets, a trigram index for grep)

Revision ID: observe_0002
Revises: observe_0001

On SQLite nothing is created: the log store is its own ``logs.db`` (FTS5) there.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "observe_0002"
down_revision = "observe_0001"
branch_labels = None
depends_on = None
log = logging.getLogger(__name__)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.create_table(
        "observe_logs",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("environment", sa.String(200), nullable=False),
        sa.Column("time", sa.Float, nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("revision", sa.Text, nullable=False),
        sa.Column("replica", sa.Text, nullable=False),
        sa.Column("container", sa.Text, nullable=False),
        sa.Column("stream", sa.String(10), nullable=False),
        sa.Column("level", sa.String(10), nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("trace_id", sa.Text, nullable=True),
        sa.Column("fields", sa.Text, nullable=True),
    )
    op.create_index("observe_logs_by_service_time", "observe_logs",
                    ["project", "environment", "service", "time"])
    op.create_table(
        "observe_log_offsets",
        sa.Column("project", sa.String(200), primary_key=True),
        sa.Column("environment", sa.String(200), primary_key=True),
        sa.Column("path", sa.Text, primary_key=True),
        sa.Column("container", sa.Text, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("inode", sa.BigInteger, nullable=False),
    )
    _trigram_index(bind)


def _trigram_index(bind: sa.Connection) -> None:
    """A GIN trigram index serves ``ILIKE '%text%'``; without the pg_trgm extension (a user
    who may not create it) grep scans instead."""
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        log.warning("pg_trgm is not available, log grep will scan: %s", exc)
        return
    op.execute("CREATE INDEX observe_logs_message_trgm ON observe_logs "
               "USING gin (message gin_trgm_ops)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.drop_table("observe_log_offsets")
    op.drop_table("observe_logs")
