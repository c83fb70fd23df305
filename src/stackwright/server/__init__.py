"""The platform daemon: one process per project and environment, hosting the local HTTP API
(status, health) and the Vault-compatible secrets API on 127.0.0.1."""
