"""Artifacts past their retention: when the runner removed them.

Revision ID: pipelines_0002
Revises: pipelines_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "pipelines_0002"
down_revision = "pipelines_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pipelines_artifacts") as batch:
        batch.add_column(sa.Column("expired", sa.Float))
        batch.add_column(sa.Column("retention", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("pipelines_artifacts") as batch:
        batch.drop_column("retention")
        batch.drop_column("expired")
