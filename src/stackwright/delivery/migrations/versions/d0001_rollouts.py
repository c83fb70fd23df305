"""delivery_rollouts: one row per rollout of a service

Revision ID: delivery_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "delivery_0001"
down_revision = None
branch_labels = ("delivery_",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_rollouts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("env", sa.String(200), nullable=False),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("strategy", sa.String(20), nullable=False),
        sa.Column("stable", sa.String(40), nullable=False),
        sa.Column("revision", sa.String(40), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("steps", sa.Integer, nullable=False),
        sa.Column("weight", sa.Integer, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("command", sa.String(20), nullable=True),
        sa.Column("runner_pid", sa.Integer, nullable=False),
        sa.Column("runner_host", sa.String(200), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("measurements", sa.Text, nullable=False),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
        sa.Column("finished_at", sa.String(40), nullable=True),
    )
    op.create_index("delivery_rollouts_by_service", "delivery_rollouts",
                    ["project", "env", "service"])


def downgrade() -> None:
    op.drop_index("delivery_rollouts_by_service", "delivery_rollouts")
    op.drop_table("delivery_rollouts")
