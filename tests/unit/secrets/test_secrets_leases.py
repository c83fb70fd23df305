"""Leases: expiry arithmetic, and the manager's renew/revoke/retry against a recording backend
(the PostgreSQL backend itself is exercised in tests/integration/secrets)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from stackwright.secrets import leases as L
from stackwright.secrets.errors import BackendError, InvalidRequestError
from stackwright.secrets.store import InitResult, SecretsSettings, SecretsStore
from stackwright.secrets.timeutil import now_us
from stackwright.secrets.tokens import TokenRequest

S = 1_000_000


def test_new_lease_expiry_and_ceiling() -> None:
    assert L.lease_expiry(0, 60, 120) == (60 * S, 120 * S)
    assert L.lease_expiry(0, 600, 120) == (120 * S, 120 * S)
    assert L.lease_expiry(0, 0, 0) == (L.SYSTEM_DEFAULT_TTL * S, L.SYSTEM_MAX_TTL * S)
    assert L.lease_expiry(0, 60, 120, cap_us=30 * S) == (30 * S, 30 * S)


def test_renewal_is_capped_by_the_ceiling() -> None:
    assert L.renewed_expiry(10 * S, 30, 5, 100 * S) == (40 * S, False)
    assert L.renewed_expiry(10 * S, 0, 5, 100 * S) == (15 * S, False)
    assert L.renewed_expiry(90 * S, 30, 5, 100 * S) == (100 * S, True)


def test_retry_delay_grows_and_is_bounded() -> None:
    assert [L.retry_delay(n, 1.0) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert L.retry_delay(30, 5.0) == L.MAX_RETRY_DELAY_S


def test_lease_ids_list_as_folders() -> None:
    ids = ["database/creds/a/1", "database/creds/a/2", "database/creds/b/3", "other/x"]
    assert L.list_children(ids, "") == ["database/", "other/"]
    assert L.list_children(ids, "database/creds") == ["a/", "b/"]
    assert L.list_children(ids, "database/creds/a/") == ["1", "2"]
    assert L.list_children(ids, "database/cr") == []


@dataclass
class RecordingBackend:
    """Records what the manager asks; ``fail`` makes revocations fail like a down database."""

    renewed: list[tuple[str, int]] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    fail: bool = False

    def renew_lease(self, internal: Mapping[str, Any], expire_us: int) -> None:
        self.renewed.append((internal["username"], expire_us))

    def revoke_lease(self, internal: Mapping[str, Any]) -> None:
        if self.fail:
            raise BackendError("cannot connect to database 'pg': connection refused")
        self.revoked.append(internal["username"])


@pytest.fixture
def backend(store: SecretsStore) -> RecordingBackend:
    """A backend on a store whose sweeper is stopped: these tests sweep by hand."""
    store.sweeper.stop()
    recording = RecordingBackend()
    store.leases.register("test", recording)
    return recording


def _lease(store: SecretsStore, name: str, **extra: Any) -> L.Lease:
    request = L.LeaseRequest(f"test/creds/r/id-{name[:2]}", "test", {"username": name}, **extra)
    return store.leases.create(request)


def test_renew_and_revoke_go_through_the_backend(
    store: SecretsStore, backend: RecordingBackend
) -> None:
    lease = _lease(store, "u1", ttl=10, max_ttl=60)
    assert 9 <= lease.ttl(now_us()) <= 10
    renewed, warnings = store.leases.renew(lease.lease_id, 30)
    assert 29 <= renewed.ttl(now_us()) <= 30 and warnings == []
    assert backend.renewed == [("u1", renewed.expire_us)]
    capped, warnings = store.leases.renew(lease.lease_id, 3600)
    assert capped.expire_us == lease.max_expire_us and "capped" in warnings[0]
    assert capped.last_renewal_us is not None
    store.leases.revoke(lease.lease_id)
    assert backend.revoked == ["u1"]
    with pytest.raises(InvalidRequestError, match="invalid lease"):
        store.leases.get(lease.lease_id)
    store.leases.revoke(lease.lease_id)  # unknown: a no-op, as in Vault
    with pytest.raises(InvalidRequestError, match="lease not found"):
        store.leases.renew(lease.lease_id, 10)


def test_failed_revocation_keeps_the_lease_and_retries(
    store: SecretsStore, backend: RecordingBackend
) -> None:
    lease = _lease(store, "u2", ttl=3600)
    backend.fail = True
    with pytest.raises(BackendError, match="failed to revoke lease"):
        store.leases.revoke(lease.lease_id)
    kept = store.leases.get(lease.lease_id)
    assert kept.revoke_attempts == 1 and kept.last_error and "refused" in kept.last_error
    assert kept.ttl(now_us()) == 0  # due now, for the sweeper
    assert store.leases.revoke_due() == 0  # its retry delay has not passed
    due = store.leases.seconds_until_due()
    assert due is not None and 0 < due <= 5.0
    backend.fail = False
    time.sleep(due + 0.05)
    assert store.leases.revoke_due() == 1 and backend.revoked == ["u2"]
    assert store.leases.seconds_until_due() is None


def test_revoking_a_token_makes_its_leases_due(
    store: SecretsStore, initialized: InitResult, backend: RecordingBackend
) -> None:
    root = store.authenticate(initialized.root_token).entry
    child = store.tokens.create(root, TokenRequest(ttl=600))
    mine = _lease(store, "mine", ttl=3600, token_hash=child.token_hash)
    other = _lease(store, "other", ttl=3600, token_hash=root.token_hash)
    store.tokens.revoke(child)
    assert store.leases.get(mine.lease_id).ttl(now_us()) == 0
    assert store.sweep() is not None  # the other lease is still ahead
    assert backend.revoked == ["mine"]
    assert store.leases.get(other.lease_id).ttl(now_us()) > 3000


def test_lease_records_are_sealed_and_survive_reopening(
    tmp_path: Path, store: SecretsStore, initialized: InitResult, backend: RecordingBackend
) -> None:
    lease = _lease(store, "USERNAME-IN-THE-RECORD", ttl=3600)
    settings: SecretsSettings = store.settings
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))
    assert lease.lease_id.encode() in raw and b"USERNAME-IN-THE-RECORD" not in raw
    reopened = SecretsStore.open(settings)
    try:
        for key in initialized.keys_b64[:2]:
            reopened.unseal(key)
        again = RecordingBackend()
        reopened.leases.register("test", again)
        assert reopened.leases.children("test/creds/r") == ["id-US"]
        reopened.leases.revoke(lease.lease_id)
        assert again.revoked == ["USERNAME-IN-THE-RECORD"]
    finally:
        reopened.close()


def test_sweeper_revokes_expired_leases_on_time(
    tmp_path: Path, settings_for: Any
) -> None:
    store = SecretsStore.open(settings_for(tmp_path, lease_sweep_interval=30.0))
    try:
        result = store.init(1, 1)
        store.unseal(result.keys_b64[0])
        backend = RecordingBackend()
        store.leases.register("test", backend)
        assert store.sweeper.running
        _lease(store, "short", ttl=1)
        deadline = time.monotonic() + 5
        while not backend.revoked and time.monotonic() < deadline:
            time.sleep(0.05)
        # woken for the lease's expiry, not after the 30 s interval
        assert backend.revoked == ["short"]
    finally:
        store.close()
    assert not store.sweeper.running


def test_revoke_prefix_and_force(store: SecretsStore, backend: RecordingBackend) -> None:
    first, second = _lease(store, "a1"), _lease(store, "b2")
    other = store.leases.create(L.LeaseRequest("test/creds/rx/id", "test", {"username": "x"}))
    backend.fail = True
    with pytest.raises(BackendError, match="failed to revoke 2 lease"):
        store.leases.revoke_prefix("test/creds/r")
    assert store.leases.children("test/creds/r") == ["id-a1", "id-b2"]
    assert store.leases.revoke_prefix("test/creds/r", force=True) == 2
    assert store.leases.children("test/creds/r") == []
    assert store.leases.get(other.lease_id)  # "r/" is not a prefix of "rx/"
    backend.fail = False
    store.leases.revoke_prefix("test/creds/rx/")
    assert backend.revoked == ["x"] and not store.leases.children("")
    assert first.lease_id != second.lease_id
