"""Access control's pure parts: roles, password hashes, the login limiter, the guard's rules,
the loopback peer lookup, and the store's tokens (expiry, caps, revocation) on SQLite."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from stackwright.server.access.guard import Guard, GuardSettings
from stackwright.server.access.passwords import hash_password, verify_password
from stackwright.server.access.peer import peer_uid
from stackwright.server.access.ratelimit import LoginLimiter
from stackwright.server.access.roles import (
    at_least,
    cap,
    deploy_role,
    protected_environments,
    role_in,
)
from stackwright.server.access.store import AccessError, AccessStore


def test_roles_are_ordered_scoped_and_capped() -> None:
    grants = [("*", "viewer"), ("dev", "developer")]
    assert role_in(grants, "dev") == "developer" and role_in(grants, "prod") == "viewer"
    assert role_in([("staging", "admin")], "prod") is None
    assert cap("admin", "viewer") == "viewer" and cap("viewer", "admin") == "viewer"
    assert at_least("operator", "developer") and not at_least("viewer", "developer")
    assert not at_least(None, "viewer")
    assert deploy_role("prod", ("prod",)) == "operator"
    assert deploy_role("dev", ("prod",)) == "developer"
    assert protected_environments({"server": {"protected": ["live"]}}) == ("live",)
    assert protected_environments({}) == ("prod", "production")


def test_password_hash_is_salted_and_verified() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and first.startswith("scrypt$") and "correct" not in first
    assert verify_password("correct horse", first)
    assert not verify_password("wrong horse", first)
    assert not verify_password("anything", None) and not verify_password("x", "garbage")


def test_login_limiter_blocks_after_five_failures_per_key() -> None:
    limiter = LoginLimiter(limit=5, window=0.5)
    for _ in range(5):
        assert limiter.retry_after("ip:a", "user:u") == 0
        limiter.failed("ip:a", "user:u")
    assert limiter.retry_after("user:u") > 0 and limiter.retry_after("ip:b") == 0
    time.sleep(0.6)
    assert limiter.retry_after("ip:a", "user:u") == 0
    limiter.failed("ip:a")
    limiter.succeeded("ip:a")
    assert limiter.retry_after("ip:a") == 0


@pytest.mark.parametrize(("method", "path", "env", "needed"), [
    ("GET", "/api/v1/status", "dev", "viewer"),
    ("GET", "/api/v1/rollouts/web", "prod", "viewer"),
    ("POST", "/api/v1/operations", "dev", "developer"),
    ("POST", "/api/v1/operations", "prod", "operator"),
    ("POST", "/api/v1/pipelines/build/runs", "prod", "developer"),
    ("POST", "/api/v1/pipelines/build/runs/7/approve", "dev", "operator"),
    ("POST", "/api/v1/rollouts/web/promote", "dev", "operator"),
    ("POST", "/api/v1/rollouts/web/abort/", "dev", "operator"),
    ("GET", "/api/v1/access/users", "dev", "admin"),
    ("POST", "/api/v1/access/tokens", "dev", "viewer"),
])
def test_guard_rules_cover_domain_routes(method: str, path: str, env: str, needed: str) -> None:
    guard = Guard(app=None, access=None, settings=GuardSettings(env, ("prod",)),  # type: ignore[arg-type]
                  audit=lambda *a: None)
    assert guard.needed_role(method, path) == needed


def test_peer_uid_finds_the_owner_of_a_loopback_connection() -> None:
    import os

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            assert peer_uid(client.getsockname()[1], port) == os.getuid()
    assert peer_uid(1, 2) is None


def test_tokens_expire_are_capped_and_revoked(tmp_path: Path) -> None:
    store = AccessStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        store.add_user("ann", "long-enough", {"*": "operator"})
        forever, record = store.create_token("ann", "ci", ttl=None, role="viewer")
        brief, record_brief = store.create_token("ann", "brief", ttl=60)
        who = store.authenticate_token(forever, "prod")
        assert who is not None and who.role == "viewer" and who.actor == "ann (token)"
        assert store.authenticate_token(brief, "dev") is not None
        store.clock = lambda: record_brief["expires_at"] + 0.001
        assert store.authenticate_token(brief, "dev") is None
        assert store.authenticate_token(forever, "dev") is not None
        store.clock = time.time
        store.revoke_token(record["id"])
        assert store.authenticate_token(forever, "dev") is None
        assert all("digest" not in t for t in store.tokens())
        with pytest.raises(AccessError, match="shorter than"):
            store.add_user("bob", "short", {"*": "viewer"})
        with pytest.raises(AccessError, match="unknown role"):
            store.add_user("bob", "long-enough", {"*": "king"})
        with pytest.raises(AccessError, match="exists already"):
            store.add_user("ann", None, {})
        store.grant("ann", "*", None)
        assert store.role_of("ann", "dev") is None and not store.has_admin()
        store.remove_user("ann")
        assert store.users() == []
    finally:
        store.close()
