"""The state store: recorded resources, locks, run history, audit log, secrets at rest.

Names are loaded on first use: the read-only path (``sqlite_reader``) must not pay for
importing SQLAlchemy, which ``store`` needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES = {
    "Cipher": "crypto",
    "load_state_key": "crypto",
    "seal_tree": "crypto",
    "unseal_tree": "crypto",
    "default_url": "engine",
    "AuditEntry": "records",
    "AuditEvent": "records",
    "AuditReport": "records",
    "LockInfo": "records",
    "RunRecord": "records",
    "Snapshot": "records",
    "StateStore": "store",
}

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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
