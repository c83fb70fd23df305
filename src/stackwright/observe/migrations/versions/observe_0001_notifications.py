"""observe: alert notifications received from Alertmanager

Revision ID: observe_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "observe_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "observe_notifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("environment", sa.String(200), nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("receiver", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("alertname", sa.String(300), nullable=False),
        sa.Column("severity", sa.String(100), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("starts_at", sa.String(40), nullable=True),
        sa.Column("ends_at", sa.String(40), nullable=True),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("annotations", sa.Text, nullable=False),
        sa.Column("generator_url", sa.Text, nullable=True),
        sa.Column("group_key", sa.Text, nullable=True),
    )
    op.create_index("observe_notifications_by_time", "observe_notifications",
                    ["project", "environment", "received_at"])
    op.create_index("observe_notifications_by_fingerprint", "observe_notifications",
                    ["project", "environment", "fingerprint"])


def downgrade() -> None:
    op.drop_table("observe_notifications")
