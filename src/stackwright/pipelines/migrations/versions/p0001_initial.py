"""Pipeline runs, their jobs and steps, artifacts, caches and trigger positions.

Revision ID: pipelines_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "pipelines_0001"
down_revision = None
branch_labels = ("pipelines_",)
depends_on = None

_TEXT = sa.Text
_TS = sa.Float


def upgrade() -> None:
    op.create_table(
        "pipelines_runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("environment", sa.String(100), nullable=False),
        sa.Column("pipeline", sa.String(200), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("trigger", sa.String(40), nullable=False),
        sa.Column("ref", _TEXT, nullable=False),
        sa.Column("sha", sa.String(64), nullable=False),
        sa.Column("definition", _TEXT, nullable=False),
        sa.Column("source", _TEXT, nullable=False),
        sa.Column("concurrency_group", _TEXT),
        sa.Column("rerun_of", sa.String(32)),
        sa.Column("owner", sa.String(100)),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("error", _TEXT),
        sa.Column("created", _TS, nullable=False),
        sa.Column("started", _TS),
        sa.Column("finished", _TS),
        sa.UniqueConstraint("project", "environment", "pipeline", "number"),
    )
    op.create_index("pipelines_runs_status", "pipelines_runs", ["status"])
    op.create_table(
        "pipelines_jobs",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("needs", _TEXT, nullable=False),
        sa.Column("matrix", _TEXT, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("environment", sa.String(100)),
        sa.Column("approved_by", sa.String(200)),
        sa.Column("container", sa.String(200)),
        sa.Column("exit_code", sa.Integer),
        sa.Column("error", _TEXT),
        sa.Column("outputs", _TEXT, nullable=False),
        sa.Column("tests", _TEXT),
        sa.Column("cache", _TEXT),
        sa.Column("started", _TS),
        sa.Column("finished", _TS),
    )
    op.create_table(
        "pipelines_steps",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("job", sa.String(200), primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("name", _TEXT, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("exit_code", sa.Integer),
        sa.Column("started", _TS),
        sa.Column("finished", _TS),
    )
    op.create_table(
        "pipelines_artifacts",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("job", sa.String(200), primary_key=True),
        sa.Column("path", _TEXT, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("expires", _TS, nullable=False),
    )
    op.create_table(
        "pipelines_triggers",
        sa.Column("project", sa.String(200), primary_key=True),
        sa.Column("environment", sa.String(100), primary_key=True),
        sa.Column("pipeline", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("value", _TEXT, nullable=False),
        sa.Column("updated", _TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("pipelines_triggers", "pipelines_artifacts", "pipelines_steps",
                  "pipelines_jobs", "pipelines_runs"):
        op.drop_table(table)
