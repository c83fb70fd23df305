from __future__ import annotations

import time

import pytest

from stackwright.secrets.errors import InvalidRequestError, PermissionDeniedError
from stackwright.secrets.store import InitResult, SecretsStore
from stackwright.secrets.tokens import TokenRequest


def test_root_token_and_child(store: SecretsStore, initialized: InitResult) -> None:
    root = store.authenticate(initialized.root_token)
    assert root.entry.record.policies == ("root",) and root.entry.record.expire_us == 0
    store.policies.put("app", 'path "secret/data/app/*" { capabilities = ["read"] }')
    child = store.tokens.create(root.entry, TokenRequest(policies=("app",), ttl=60))
    caller = store.authenticate(child.token)
    assert caller.entry.record.policies == ("app", "default")
    assert caller.acl.allows("secret/data/app/x", "read")
    assert caller.acl.allows("auth/token/lookup-self", "read")
    assert not caller.acl.allows("secret/data/other", "read")
    assert 55 <= caller.entry.record.ttl(time.time_ns() // 1000) <= 60


def test_ttl_expiry_is_enforced(store: SecretsStore, initialized: InitResult) -> None:
    root = store.authenticate(initialized.root_token)
    child = store.tokens.create(root.entry, TokenRequest(ttl=1))
    store.authenticate(child.token)
    time.sleep(1.1)
    with pytest.raises(PermissionDeniedError):
        store.authenticate(child.token)


def test_num_uses_and_revocation_tree(store: SecretsStore, initialized: InitResult) -> None:
    root = store.authenticate(initialized.root_token).entry
    limited = store.tokens.create(root, TokenRequest(num_uses=2))
    for _ in range(2):
        store.tokens.use(store.tokens.lookup(limited.token))
    with pytest.raises(PermissionDeniedError):
        store.tokens.lookup(limited.token)
    parent = store.tokens.create(root, TokenRequest(policies=("default",)))
    child = store.tokens.create(parent, TokenRequest())
    orphan = store.tokens.create(parent, TokenRequest(no_parent=True))
    store.tokens.revoke(parent)
    with pytest.raises(PermissionDeniedError):
        store.tokens.lookup(child.token)
    assert store.tokens.lookup(orphan.token).parent_hash is None


def test_child_policies_must_be_subset(store: SecretsStore, initialized: InitResult) -> None:
    root = store.authenticate(initialized.root_token).entry
    store.policies.put("app", 'path "a" { capabilities = ["read"] }')
    plain = store.tokens.create(root, TokenRequest(policies=("default",)))
    with pytest.raises(InvalidRequestError, match="subset"):
        store.tokens.create(plain, TokenRequest(policies=("app",)))


def test_renew_and_accessor(store: SecretsStore, initialized: InitResult) -> None:
    root = store.authenticate(initialized.root_token).entry
    entry = store.tokens.create(root, TokenRequest(ttl=10, explicit_max_ttl=20))
    renewed = store.tokens.renew(entry, 3600)
    assert renewed.record.expire_us <= entry.record.creation_us + 20_000_000
    assert store.tokens.by_accessor(entry.record.accessor).token_hash == entry.token_hash
    fixed = store.tokens.create(root, TokenRequest(ttl=10, renewable=False))
    with pytest.raises(InvalidRequestError, match="not renewable"):
        store.tokens.renew(fixed, 10)
