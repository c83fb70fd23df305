"""The ``access_*`` tables. Secrets are never stored: passwords as scrypt hashes, tokens and
session ids as SHA-256 digests of their random value."""

from __future__ import annotations

import sqlalchemy as sa

PREFIX = "access_"
metadata = sa.MetaData()

users = sa.Table(
    "access_users", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("password_hash", sa.String(256), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
)

grants = sa.Table(
    "access_grants", metadata,
    sa.Column("user", sa.String(64), sa.ForeignKey("access_users.name", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("environment", sa.String(64), primary_key=True),  # "*": every environment
    sa.Column("role", sa.String(16), nullable=False),
)

tokens = sa.Table(
    "access_tokens", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("user", sa.String(64), sa.ForeignKey("access_users.name", ondelete="CASCADE"),
              nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=True),  # at most this role (None: the user's)
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=True),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
)

sessions = sa.Table(
    "access_sessions", metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("user", sa.String(64), sa.ForeignKey("access_users.name", ondelete="CASCADE"),
              nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)
