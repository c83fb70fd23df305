"""The pipelines_* tables (created by the migrations in ``migrations/versions``)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
_T = sa.Text
_TS = sa.Float

runs = sa.Table(
    "pipelines_runs", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("project", sa.String(200), nullable=False),
    sa.Column("environment", sa.String(100), nullable=False),
    sa.Column("pipeline", sa.String(200), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("trigger", sa.String(40), nullable=False),
    sa.Column("ref", _T, nullable=False),
    sa.Column("sha", sa.String(64), nullable=False),
    sa.Column("definition", _T, nullable=False),
    sa.Column("source", _T, nullable=False),
    sa.Column("concurrency_group", _T),
    sa.Column("rerun_of", sa.String(32)),
    sa.Column("owner", sa.String(100)),
    sa.Column("cancel_requested", sa.Boolean, nullable=False),
    sa.Column("error", _T),
    sa.Column("created", _TS, nullable=False),
    sa.Column("started", _TS),
    sa.Column("finished", _TS),
)

jobs = sa.Table(
    "pipelines_jobs", metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("needs", _T, nullable=False),
    sa.Column("matrix", _T, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("environment", sa.String(100)),
    sa.Column("approved_by", sa.String(200)),
    sa.Column("container", sa.String(200)),
    sa.Column("exit_code", sa.Integer),
    sa.Column("error", _T),
    sa.Column("outputs", _T, nullable=False),
    sa.Column("tests", _T),
    sa.Column("cache", _T),
    sa.Column("started", _TS),
    sa.Column("finished", _TS),
)

steps = sa.Table(
    "pipelines_steps", metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("name", _T, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("exit_code", sa.Integer),
    sa.Column("started", _TS),
    sa.Column("finished", _TS),
)

artifacts = sa.Table(
    "pipelines_artifacts", metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("path", _T, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("expires", _TS, nullable=False),
    sa.Column("expired", _TS),  # when the runner removed it (past its retention)
    sa.Column("retention", _TS),  # seconds it is kept
)

triggers = sa.Table(
    "pipelines_triggers", metadata,
    sa.Column("project", sa.String(200), primary_key=True),
    sa.Column("environment", sa.String(100), primary_key=True),
    sa.Column("pipeline", sa.String(200), primary_key=True),
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("value", _T, nullable=False),
    sa.Column("updated", _TS, nullable=False),
)
