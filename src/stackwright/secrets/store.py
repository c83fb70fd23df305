"""The secrets store: one object tying barrier, KV v2, tokens, policies and audit together.

Example::

    store = SecretsStore.open(SecretsSettings(
        database_url="sqlite:////var/lib/stackwright/state.db",
        audit_path=Path("/var/log/stackwright/secrets-audit.jsonl"),
    ))
    result = store.init(shares=5, threshold=3)   # keys and root token, shown once
    for key in result.keys_b64[:3]:
        store.unseal(key)
    store.kv.write("secret", "app/db", {"password": "..."})
"""

from __future__ import annotations

import base64
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackwright.errors import SecretsError
from stackwright.secrets.audit import AuditLog
from stackwright.secrets.auditsink import DEFAULT_BATCH_WINDOW, FileAuditSink, FsyncMode
from stackwright.secrets.barrier import Barrier, SealStatus
from stackwright.secrets.database import BACKEND, DatabaseEngine
from stackwright.secrets.db import create_secrets_engine, migrate
from stackwright.secrets.errors import SealedError
from stackwright.secrets.kv2 import KvStore
from stackwright.secrets.leases import LeaseManager
from stackwright.secrets.policy import Acl
from stackwright.secrets.policystore import PolicyStore
from stackwright.secrets.postgres import PostgresPlugin
from stackwright.secrets.sweeper import LeaseSweeper
from stackwright.secrets.tokens import TokenEntry, TokenRequest, TokenStore


@dataclass(frozen=True)
class SecretsSettings:
    """Where the store keeps its tables and audit log, and how it runs.

    ``lease_sweep_interval`` is the longest the lease sweeper sleeps (it also wakes when the
    next lease is due) and the first delay before retrying a failed revocation; 0 turns the
    sweeper off. ``db_connect_timeout`` bounds each connection to a managed database.
    ``audit_fsync`` (``always``, ``batch`` or ``never``) and ``audit_batch_window`` (seconds
    a group commit may wait for more lines) set the audit file's durability (auditsink.py).
    """

    database_url: str
    audit_path: Path
    auto_unseal_key_file: Path | None = None
    mount: str = "secret"
    database_mount: str = "database"
    lease_sweep_interval: float = 5.0
    db_connect_timeout: int = 5
    audit_fsync: FsyncMode = "batch"
    audit_batch_window: float = DEFAULT_BATCH_WINDOW


@dataclass(frozen=True)
class InitResult:
    """What init hands out once: the unseal key shares and the root token."""

    keys: tuple[bytes, ...] = field(repr=False)
    root_token: str = field(repr=False)
    threshold: int = 0

    @property
    def keys_hex(self) -> list[str]:
        return [k.hex() for k in self.keys]

    @property
    def keys_b64(self) -> list[str]:
        return [base64.b64encode(k).decode() for k in self.keys]

    def to_cli_json(self) -> dict[str, Any]:
        """The fields of ``vault operator init -format=json``."""
        return {
            "unseal_keys_b64": self.keys_b64,
            "unseal_keys_hex": self.keys_hex,
            "unseal_shares": len(self.keys),
            "unseal_threshold": self.threshold,
            "recovery_keys_b64": [],
            "recovery_keys_hex": [],
            "recovery_keys_shares": 0,
            "recovery_keys_threshold": 0,
            "root_token": self.root_token,
        }

    def to_http_json(self) -> dict[str, Any]:
        """``PUT sys/init``'s body (keys, keys_base64, root_token) plus the CLI fields."""
        http = {"keys": self.keys_hex, "keys_base64": self.keys_b64}
        return http | self.to_cli_json()


@dataclass(frozen=True)
class Caller:
    """Who is making a request, and what their policies allow."""

    entry: TokenEntry
    acl: Acl


class SecretsStore:
    def __init__(self, settings: SecretsSettings, audit: AuditLog) -> None:
        self.settings = settings
        self.engine = create_secrets_engine(settings.database_url)
        migrate(self.engine)
        self.barrier = Barrier(self.engine)
        self.kv = KvStore(self.engine, self.barrier, audit_sync=audit.sync)
        self.tokens = TokenStore(self.engine, self.barrier)
        self.policies = PolicyStore(self.engine, self.barrier)
        self.audit = audit
        self.leases = LeaseManager(
            self.engine, self.barrier, retry_base_s=max(settings.lease_sweep_interval, 0.1)
        )
        self.databases = DatabaseEngine(
            self.engine,
            self.barrier,
            self.leases,
            mount=settings.database_mount,
            plugin=PostgresPlugin(settings.db_connect_timeout),
        )
        self.leases.register(BACKEND, self.databases)
        self.tokens.on_revoke.append(self.leases.revoke_for_tokens)
        self.sweeper = LeaseSweeper(self.sweep, settings.lease_sweep_interval)
        self.leases.on_due = self.sweeper.poke

    @classmethod
    def open(cls, settings: SecretsSettings) -> SecretsStore:
        """Migrate the tables, open the audit file, and auto-unseal if a key file is set."""
        sink = FileAuditSink(
            settings.audit_path,
            fsync=settings.audit_fsync,
            batch_window=settings.audit_batch_window,
        )
        try:
            store = cls(settings, AuditLog(sink))
        except BaseException:
            sink.close()
            raise
        try:
            store.auto_unseal()
        except BaseException:
            store.close()
            raise
        store.sweeper.start()
        return store

    def close(self) -> None:
        """Stop the sweeper, seal, release the audit file and the database; safe twice."""
        self.sweeper.stop()
        self.seal()
        self.audit.close()
        self.engine.dispose()

    # -- seal -----------------------------------------------------------------------------
    def status(self) -> SealStatus:
        return self.barrier.status()

    def init(self, shares: int, threshold: int) -> InitResult:
        """Create keys, the default policy and the root token; the store is left sealed."""
        keys = self.barrier.initialize(shares, threshold)
        try:
            self.policies.seed()
            root = self.tokens.create(None, TokenRequest())
        finally:
            self.seal()
        return InitResult(tuple(keys), root.token, threshold)

    def unseal(self, key: str) -> SealStatus:
        status = self.barrier.submit(key)
        if not status.sealed:
            self.sweeper.poke()  # leases that expired while sealed are due now
        return status

    def reset_unseal(self) -> SealStatus:
        return self.barrier.reset()

    def seal(self) -> None:
        self.barrier.seal()
        self.policies.forget()
        self.tokens.forget()
        self.kv.forget()

    def auto_unseal(self) -> bool:
        """Unseal from the key file setting; True if it did. The status reports it."""
        path = self.settings.auto_unseal_key_file
        if path is None or not path.exists() or not self.barrier.initialized:
            return False
        if not self.barrier.sealed:
            return True
        self.barrier.unseal_with(read_unseal_key_file(path), auto=True)
        return True

    # -- expiration -----------------------------------------------------------------------
    def sweep(self) -> float | None:
        """One pass of the expiration manager: expired tokens, then due leases. Returns the
        seconds until the next lease is due (None: none, or sealed)."""
        if self.barrier.sealed:
            return None
        try:
            self.tokens.purge_expired()
            self.leases.revoke_due()
            return self.leases.seconds_until_due()
        except SealedError:
            return None

    # -- auth -----------------------------------------------------------------------------
    def authenticate(self, token: str) -> Caller:
        entry = self.tokens.lookup(token)
        return Caller(entry, self.policies.acl(entry.record.policies))

    def audit_key(self) -> bytes | None:
        return None if self.barrier.sealed else self.barrier.keys().audit_hmac_key


def read_unseal_key_file(path: Path) -> list[str]:
    """Key shares from ``init -format=json`` output or one share per line; must be 0600."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretsError(
            f"the unseal key file {path} is readable by others", hint=f"chmod 600 {path}"
        )
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("{"):
        loaded = json.loads(text)
        return [str(k) for k in loaded.get("unseal_keys_b64") or loaded.get("keys_base64") or []]
    return [line.strip() for line in text.splitlines() if line.strip()]


def write_unseal_key_file(path: Path, keys: list[str]) -> None:
    """Write key shares for auto-unseal, readable by the owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(keys) + "\n")
