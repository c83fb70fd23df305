"""The state tables, for queries. Migrations create them and never import this module, so
the migration history stays fixed when these definitions change."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, Text

METADATA = MetaData()

workspaces = Table(
    "workspaces",
    METADATA,
    Column("project", String(200), primary_key=True),
    Column("env", String(200), primary_key=True),
    Column("generation", Integer, nullable=False),
    Column("last_serial", Integer, nullable=False),
)

resources = Table(
    "resources",
    METADATA,
    Column("project", String(200), primary_key=True),
    Column("env", String(200), primary_key=True),
    Column("address", String(400), primary_key=True),
    Column("object_id", Text),
    Column("status", String(20), nullable=False),
    Column("inputs", Text, nullable=False),
    Column("outputs", Text, nullable=False),
    Column("depends_on", Text, nullable=False),
    Column("sensitive", Text, nullable=False),
    Column("sensitive_outputs", Text, nullable=False),
    Column("serial", Integer, nullable=False),
)

runs = Table(
    "runs",
    METADATA,
    Column("project", String(200), primary_key=True),
    Column("env", String(200), primary_key=True),
    Column("serial", Integer, primary_key=True),
    Column("operation", String(100), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40)),
    Column("status", String(40), nullable=False),
    Column("summary", Text, nullable=False),
)

locks = Table(
    "locks",
    METADATA,
    Column("project", String(200), primary_key=True),
    Column("env", String(200), primary_key=True),
    Column("lock_id", String(64), nullable=False),
    Column("holder", String(300), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("host", String(300), nullable=False),
    Column("operation", String(100), nullable=False),
    Column("created_at", String(40), nullable=False),
)

audit_log = Table(
    "audit_log",
    METADATA,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("time", String(40), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("project", String(200)),
    Column("env", String(200)),
    Column("data", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_head = Table(
    "audit_head",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)
