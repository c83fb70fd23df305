"""recover_runs: one row per backup, retention, check, restore or drill run.

Revision ID: r0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0001"
down_revision = None
branch_labels = ("recover",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recover_runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("environment", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("scheduled_for", sa.String(40), nullable=True),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("finished_at", sa.String(40), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("details", sa.Text, nullable=False),
    )
    op.create_index("recover_runs_by_name", "recover_runs",
                    ["project", "environment", "kind", "name", "started_at"])


def downgrade() -> None:
    op.drop_index("recover_runs_by_name", "recover_runs")
    op.drop_table("recover_runs")
