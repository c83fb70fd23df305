"""Database secrets engine (connection configs, roles) and leases.

Revision ID: s0002
Revises: s0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "s0002"
down_revision = "s0001"
branch_labels = None
depends_on = None


def _named_records(table: str) -> None:
    op.create_table(
        table,
        sa.Column("mount", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("record_ct", sa.LargeBinary, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
    )


def upgrade() -> None:
    _named_records("secrets_db_configs")
    _named_records("secrets_db_roles")
    op.create_table(
        "secrets_leases",
        sa.Column("lease_id", sa.String(512), primary_key=True),
        sa.Column("issue_us", sa.BigInteger, nullable=False),
        sa.Column("expire_us", sa.BigInteger, nullable=False),
        sa.Column("max_expire_us", sa.BigInteger, nullable=False),
        sa.Column("last_renewal_us", sa.BigInteger, nullable=True),
        sa.Column("renewable", sa.Boolean, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=True),
        sa.Column("revoke_attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_us", sa.BigInteger, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("record_ct", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_secrets_leases_expire_us", "secrets_leases", ["expire_us"])
    op.create_index("ix_secrets_leases_token_hash", "secrets_leases", ["token_hash"])


def downgrade() -> None:
    op.drop_index("ix_secrets_leases_token_hash", table_name="secrets_leases")
    op.drop_index("ix_secrets_leases_expire_us", table_name="secrets_leases")
    for table in ("secrets_leases", "secrets_db_roles", "secrets_db_configs"):
        op.drop_table(table)
