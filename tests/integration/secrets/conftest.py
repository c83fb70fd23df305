"""Secrets API fixtures; they live in a uniquely named module so tests can import the types."""

from secrets_vault_server import root_client, vault_server

__all__ = ["root_client", "vault_server"]
