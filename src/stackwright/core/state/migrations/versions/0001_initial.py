"""The first state schema: workspaces, resources, runs, locks and the audit log.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _workspace_key() -> list[sa.Column[str]]:
    return [
        sa.Column("project", sa.String(200), primary_key=True),
        sa.Column("env", sa.String(200), primary_key=True),
    ]


def upgrade() -> None:
    op.create_table(
        "workspaces",
        *_workspace_key(),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("last_serial", sa.Integer, nullable=False),
    )
    op.create_table(
        "resources",
        *_workspace_key(),
        sa.Column("address", sa.String(400), primary_key=True),
        sa.Column("object_id", sa.Text),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("outputs", sa.Text, nullable=False),
        sa.Column("depends_on", sa.Text, nullable=False),
        sa.Column("sensitive", sa.Text, nullable=False),
        sa.Column("sensitive_outputs", sa.Text, nullable=False),
        sa.Column("serial", sa.Integer, nullable=False),
    )
    op.create_table(
        "runs",
        *_workspace_key(),
        sa.Column("serial", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("operation", sa.String(100), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("finished_at", sa.String(40)),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
    )
    op.create_table(
        "locks",
        *_workspace_key(),
        sa.Column("lock_id", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(300), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("host", sa.String(300), nullable=False),
        sa.Column("operation", sa.String(100), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("time", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("project", sa.String(200)),
        sa.Column("env", sa.String(200)),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_log_project", "audit_log", ["project", "seq"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    # The head exists from the start, so appenders can always lock it (SELECT … FOR UPDATE).
    op.execute(f"INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '{'0' * 64}')")


def downgrade() -> None:
    for table in ("audit_head", "audit_log", "locks", "runs", "resources", "workspaces"):
        op.drop_table(table)
