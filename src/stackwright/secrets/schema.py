"""The secrets store's own tables (prefix ``secrets_``). Only ciphertext holds values.

Times are integer microseconds since the epoch, portable across SQLite and PostgreSQL.
Paths are stored in clear, as in Vault's storage backends, so keys can be listed while
their values stay encrypted.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

keyring = sa.Table(
    "secrets_keyring",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("shares", sa.Integer, nullable=False),
    sa.Column("threshold", sa.Integer, nullable=False),
    sa.Column("share_digests", sa.Text, nullable=False),
    sa.Column("root_key_ct", sa.LargeBinary, nullable=False),
    sa.Column("keys_ct", sa.LargeBinary, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
)

kv_config = sa.Table(
    "secrets_kv_config",
    metadata,
    sa.Column("mount", sa.String(128), primary_key=True),
    sa.Column("max_versions", sa.Integer, nullable=False),
    sa.Column("cas_required", sa.Boolean, nullable=False),
    sa.Column("delete_version_after", sa.BigInteger, nullable=False),
)

kv_metadata = sa.Table(
    "secrets_kv_metadata",
    metadata,
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

kv_versions = sa.Table(
    "secrets_kv_versions",
    metadata,
    sa.Column("mount", sa.String(128), primary_key=True),
    sa.Column("path", sa.String(1024), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("deletion_us", sa.BigInteger, nullable=True),
    sa.Column("destroyed", sa.Boolean, nullable=False),
    sa.Column("value_ct", sa.LargeBinary, nullable=True),
)

policies = sa.Table(
    "secrets_policies",
    metadata,
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("body_ct", sa.LargeBinary, nullable=False),
    sa.Column("updated_us", sa.BigInteger, nullable=False),
)

tokens = sa.Table(
    "secrets_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("accessor_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("parent_hash", sa.String(64), nullable=True, index=True),
    sa.Column("expire_us", sa.BigInteger, nullable=False),
    sa.Column("record_ct", sa.LargeBinary, nullable=False),
)

def _mount_records(name: str) -> sa.Table:
    """Encrypted records of a secrets engine mount, by name (database configs, roles)."""
    return sa.Table(
        name,
        metadata,
        sa.Column("mount", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("record_ct", sa.LargeBinary, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
    )


db_configs = _mount_records("secrets_db_configs")
db_roles = _mount_records("secrets_db_roles")

leases = sa.Table(
    "secrets_leases",
    metadata,
    sa.Column("lease_id", sa.String(512), primary_key=True),
    sa.Column("issue_us", sa.BigInteger, nullable=False),
    sa.Column("expire_us", sa.BigInteger, nullable=False, index=True),
    sa.Column("max_expire_us", sa.BigInteger, nullable=False),
    sa.Column("last_renewal_us", sa.BigInteger, nullable=True),
    sa.Column("renewable", sa.Boolean, nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=True, index=True),
    sa.Column("revoke_attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_us", sa.BigInteger, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("record_ct", sa.LargeBinary, nullable=False),
)
