"""The Vault-compatible HTTP API of the secrets store."""

from stackwright.secrets.api.app import create_vault_app
from stackwright.secrets.api.server import RunningServer, serve

__all__ = ["RunningServer", "create_vault_app", "serve"]
