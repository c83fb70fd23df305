"""The ``delivery_*`` tables in the state database: one row per rollout of a service."""

from __future__ import annotations

import sqlalchemy as sa

PREFIX = "delivery_"
metadata = sa.MetaData()

rollouts = sa.Table(
    f"{PREFIX}rollouts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project", sa.String(200), nullable=False),
    sa.Column("env", sa.String(200), nullable=False),
    sa.Column("service", sa.String(200), nullable=False),
    sa.Column("strategy", sa.String(20), nullable=False),
    sa.Column("stable", sa.String(40), nullable=False),  # the revision serving before
    sa.Column("revision", sa.String(40), nullable=False),  # the revision rolled out
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("step", sa.Integer, nullable=False, default=0),
    sa.Column("steps", sa.Integer, nullable=False, default=0),
    sa.Column("weight", sa.Integer, nullable=False, default=0),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Column("command", sa.String(20), nullable=True),  # asked by the CLI, taken by the runner
    sa.Column("runner_pid", sa.Integer, nullable=False),
    sa.Column("runner_host", sa.String(200), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("measurements", sa.Text, nullable=False, default="[]"),
    sa.Column("events", sa.Text, nullable=False, default="[]"),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Column("finished_at", sa.String(40), nullable=True),
    sa.Index(f"{PREFIX}rollouts_by_service", "project", "env", "service"),
)
