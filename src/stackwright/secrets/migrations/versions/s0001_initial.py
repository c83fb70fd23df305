"""Initial secrets tables: keyring, KV v2 config/metadata/versions, policies, tokens.

Revision ID: s0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "s0001"
down_revision = None
branch_labels = ("secrets",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "secrets_keyring",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("shares", sa.Integer, nullable=False),
        sa.Column("threshold", sa.Integer, nullable=False),
        sa.Column("share_digests", sa.Text, nullable=False),
        sa.Column("root_key_ct", sa.LargeBinary, nullable=False),
        sa.Column("keys_ct", sa.LargeBinary, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "secrets_kv_config",
        sa.Column("mount", sa.String(128), primary_key=True),
        sa.Column("max_versions", sa.Integer, nullable=False),
        sa.Column("cas_required", sa.Boolean, nullable=False),
        sa.Column("delete_version_after", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "secrets_kv_metadata",
        sa.Column("mount", sa.String(128), primary_key=True),
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("current_version", sa.Integer, nullable=False),
        sa.Column("oldest_version", sa.Integer, nullable=False),
        sa.Column("max_versions", sa.Integer, nullable=False),
        sa.Column("cas_required", sa.Boolean, nullable=False),
        sa.Column("delete_version_after", sa.BigInteger, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
        sa.Column("custom_metadata_ct", sa.LargeBinary, nullable=True),
    )
    op.create_table(
        "secrets_kv_versions",
        sa.Column("mount", sa.String(128), primary_key=True),
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("deletion_us", sa.BigInteger, nullable=True),
        sa.Column("destroyed", sa.Boolean, nullable=False),
        sa.Column("value_ct", sa.LargeBinary, nullable=True),
    )
    op.create_table(
        "secrets_policies",
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("body_ct", sa.LargeBinary, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "secrets_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("accessor_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("parent_hash", sa.String(64), nullable=True),
        sa.Column("expire_us", sa.BigInteger, nullable=False),
        sa.Column("record_ct", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_secrets_tokens_parent_hash", "secrets_tokens", ["parent_hash"])


def downgrade() -> None:
    op.drop_index("ix_secrets_tokens_parent_hash", table_name="secrets_tokens")
    for table in (
        "secrets_tokens",
        "secrets_policies",
        "secrets_kv_versions",
        "secrets_kv_metadata",
        "secrets_kv_config",
        "secrets_keyring",
    ):
        op.drop_table(table)
