"""The state store: recorded resources, locks, run history, audit log, secrets at rest."""

from stackwright.core.state.crypto import Cipher, load_state_key, seal_tree, unseal_tree
from stackwright.core.state.engine import default_url
from stackwright.core.state.records import (
    AuditEntry,
    AuditEvent,
    AuditReport,
    LockInfo,
    RunRecord,
    Snapshot,
)
from stackwright.core.state.store import StateStore

__all__ = [
    "AuditEntry",
    "AuditEvent",
    "AuditReport",
    "Cipher",
    "LockInfo",
    "RunRecord",
    "Snapshot",
    "StateStore",
    "default_url",
    "load_state_key",
    "seal_tree",
    "unseal_tree",
]
