"""The in-memory caches (tokens, compiled ACLs, KV rows) never answer with what changed."""

from __future__ import annotations

from typing import Any

import pytest

from stackwright.secrets import kv2
from stackwright.secrets.errors import PermissionDeniedError
from stackwright.secrets.store import InitResult, SecretsStore
from stackwright.secrets.tokens import TokenEntry, TokenRequest


def _child(store: SecretsStore, initialized: InitResult, **request: Any) -> TokenEntry:
    root = store.authenticate(initialized.root_token).entry
    return store.tokens.create(root, TokenRequest(**request))


def test_revoked_token_is_refused_at_once(store: SecretsStore, initialized: InitResult) -> None:
    child = _child(store, initialized)
    grandchild = store.tokens.create(store.authenticate(child.token).entry, TokenRequest())
    store.authenticate(grandchild.token)  # both cached now
    store.tokens.revoke_token(child.token)
    for token in (child.token, grandchild.token):
        with pytest.raises(PermissionDeniedError):
            store.authenticate(token)


def test_lookup_racing_a_revoke_does_not_cache_the_revoked_token(
    store: SecretsStore, initialized: InitResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    child = _child(store, initialized)
    real_load = store.tokens._load

    def load_then_revoke(*args: Any) -> TokenEntry | None:
        entry = real_load(*args)  # read before the revoke commits...
        monkeypatch.setattr(store.tokens, "_load", real_load)
        store.tokens.revoke_token(child.token)  # ...which happens before it is cached
        return entry

    monkeypatch.setattr(store.tokens, "_load", load_then_revoke)
    store.authenticate(child.token)  # served: it was live when it was read
    with pytest.raises(PermissionDeniedError):
        store.authenticate(child.token)


def test_renew_and_seal_replace_cached_tokens(store: SecretsStore, initialized: InitResult) -> None:
    child = _child(store, initialized, ttl=60)
    before = store.authenticate(child.token).entry.record.expire_us
    store.tokens.renew(store.tokens.lookup(child.token), 3600)
    assert store.authenticate(child.token).entry.record.expire_us > before
    store.seal()
    assert store.tokens._cache == {}


def test_policy_write_changes_the_next_requests_acl(
    store: SecretsStore, initialized: InitResult
) -> None:
    store.policies.put("app", 'path "secret/data/app/*" { capabilities = ["read"] }')
    child = _child(store, initialized, policies=("app",))
    assert store.authenticate(child.token).acl.allows("secret/data/app/x", "read")
    store.policies.put("app", 'path "secret/data/app/*" { capabilities = ["deny"] }')
    assert not store.authenticate(child.token).acl.allows("secret/data/app/x", "read")
    store.policies.delete("app")
    assert not store.authenticate(child.token).acl.allows("secret/data/app/x", "read")


def test_kv_reads_see_every_change(store: SecretsStore) -> None:
    store.kv.write("secret", "app/db", {"pw": "one"})
    assert store.kv.read("secret", "app/db").data == {"pw": "one"}
    store.kv.write("secret", "app/db", {"pw": "two"})
    assert store.kv.read("secret", "app/db").data == {"pw": "two"}
    assert store.kv.read("secret", "app/db", 1).data == {"pw": "one"}
    store.kv.delete_latest("secret", "app/db")
    assert store.kv.read("secret", "app/db").data is None
    store.kv.undelete("secret", "app/db", [2])
    assert store.kv.read("secret", "app/db").data == {"pw": "two"}
    store.kv.destroy("secret", "app/db", [1])
    assert store.kv.read("secret", "app/db", 1).data is None
    store.kv.delete_metadata("secret", "app/db")
    with pytest.raises(kv2.NotFoundError):
        store.kv.read("secret", "app/db")


def test_kv_read_racing_a_write_does_not_cache_the_old_version(
    store: SecretsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.kv.write("secret", "app/db", {"pw": "one"})
    real = kv2._version_row

    def row_then_write(*args: Any) -> Any:
        row = real(*args)
        monkeypatch.setattr(kv2, "_version_row", real)
        store.kv.write("secret", "app/db", {"pw": "two"})  # commits before the read caches
        return row

    monkeypatch.setattr(kv2, "_version_row", row_then_write)
    assert store.kv.read("secret", "app/db").data == {"pw": "one"}
    assert store.kv.read("secret", "app/db").data == {"pw": "two"}


def test_pruning_keeps_the_newest_versions(store: SecretsStore) -> None:
    for n in range(14):
        store.kv.write("secret", "app/db", {"n": n})
    meta = store.kv.read_metadata("secret", "app/db")
    assert [v.version for v in meta.versions] == list(range(5, 15))
    assert meta.to_json()["oldest_version"] == 5
