"""The observe domain's tables in the state database (prefix ``observe_``)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

notifications = sa.Table(
    "observe_notifications", metadata,
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
    sa.Index("observe_notifications_by_time", "project", "environment", "received_at"),
    sa.Index("observe_notifications_by_fingerprint", "project", "environment", "fingerprint"),
)

# The log store when the state is in PostgreSQL (on SQLite the lines go to ``logs.db``).
logs = sa.Table(
    "observe_logs", metadata,
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
    sa.Index("observe_logs_by_service_time", "project", "environment", "service", "time"),
)

log_offsets = sa.Table(
    "observe_log_offsets", metadata,
    sa.Column("project", sa.String(200), primary_key=True),
    sa.Column("environment", sa.String(200), primary_key=True),
    sa.Column("path", sa.Text, primary_key=True),
    sa.Column("container", sa.Text, nullable=False),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("inode", sa.BigInteger, nullable=False),
)
