"""Alembic migrations of the secrets store (version table ``secrets_alembic_version``)."""
