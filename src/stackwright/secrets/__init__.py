"""Secrets: an encrypted, versioned, access-controlled, audited store with Vault's HTTP API.

Layers, from the bottom: ``shamir`` and ``crypto`` (primitives), ``barrier`` (seal, unseal,
the root key), ``kv2``, ``tokens``, ``policy``/``policystore``, ``audit``, ``leases`` and
``sweeper`` (the expiration manager), ``database`` with ``dbplugin``/``postgres`` (dynamic
PostgreSQL credentials), then ``store`` (the facade) and ``api`` (FastAPI app factory,
``create_vault_app(store)``).
"""

from stackwright.secrets.audit import AuditSink, FileAuditSink, verify_audit_file
from stackwright.secrets.store import InitResult, SecretsSettings, SecretsStore

__all__ = [
    "AuditSink",
    "FileAuditSink",
    "InitResult",
    "SecretsSettings",
    "SecretsStore",
    "verify_audit_file",
]
