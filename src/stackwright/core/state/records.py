"""The values the state store hands out: snapshots, locks, runs and audit entries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stackwright.core.model import Address, Recorded


@dataclass(frozen=True)
class Snapshot:
    """Every recorded resource of one workspace, sensitive values decrypted.

    ``generation`` grows by one with every resource write (``mark_started``, ``record``,
    ``remove``, ``move``) so a saved plan can tell that the state changed since it was made.
    """

    generation: int
    resources: dict[Address, Recorded]


@dataclass(frozen=True)
class LockInfo:
    """Who holds the writer lock of a workspace. ``replaced`` is the stale lock (its process
    died on this host) that this lock took over, if any."""

    id: str
    project: str
    env: str
    holder: str
    pid: int
    host: str
    operation: str
    created_at: str
    replaced: LockInfo | None = None

    def describe(self) -> str:
        return (
            f"{self.holder} (pid {self.pid} on {self.host}) since {self.created_at} "
            f"for {self.operation!r}, lock id {self.id}"
        )


@dataclass(frozen=True)
class RunRecord:
    """One run in a workspace's history; ``serial`` counts 1, 2, 3… per workspace."""

    serial: int
    operation: str
    actor: str
    started_at: str
    finished_at: str | None
    status: str
    summary: Mapping[str, Any]


@dataclass(frozen=True)
class AuditEvent:
    """Something to write to the audit log.

    ``data`` is stored in clear and hashed into the chain: callers pass it already masked
    (``stackwright.core.values.mask`` with the resource's sensitive paths). The store never
    sees which parts of ``data`` were secret, so it cannot mask them itself.
    """

    actor: str
    action: str
    project: str | None = None
    env: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the hash-chained audit log."""

    seq: int
    time: str
    actor: str
    action: str
    project: str | None
    env: str | None
    data: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditReport:
    """The result of re-checking the audit chain; ``problems`` name the seq numbers."""

    ok: bool
    entries: int
    problems: list[str] = field(default_factory=list)
