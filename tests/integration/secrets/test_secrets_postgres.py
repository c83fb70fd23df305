"""The store on PostgreSQL: migrations, KV v2, tokens and policies through the same code."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from stackwright.secrets.errors import InvalidRequestError, PermissionDeniedError
from stackwright.secrets.store import SecretsSettings, SecretsStore
from stackwright.secrets.tokens import TokenRequest

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_store_on_postgres(fresh_postgres_url: str, tmp_path: Path) -> None:
    settings = SecretsSettings(database_url=fresh_postgres_url, audit_path=tmp_path / "a.jsonl")
    store = SecretsStore.open(settings)
    try:
        result = store.init(3, 2)
        for key in result.keys_hex[:2]:
            store.unseal(key)
        store.kv.write("secret", "a_b/c%", {"v": "1"}, cas=0)
        store.kv.write("secret", "axb/c", {"v": "2"})
        with pytest.raises(InvalidRequestError, match="did not match"):
            store.kv.write("secret", "a_b/c%", {"v": "x"}, cas=0)
        assert store.kv.list("secret", "a_b") == ["c%"]
        assert store.kv.read("secret", "a_b/c%").data == {"v": "1"}
        store.policies.put("p", 'path "secret/data/*" { capabilities = ["read"] }')
        root = store.authenticate(result.root_token).entry
        child = store.tokens.create(root, TokenRequest(policies=("p",), num_uses=1))
        assert store.authenticate(child.token).acl.allows("secret/data/x", "read")
        store.tokens.use(store.tokens.lookup(child.token))
        with pytest.raises(PermissionDeniedError):
            store.tokens.lookup(child.token)
    finally:
        store.close()
    reopened = SecretsStore.open(settings)  # migrations are idempotent
    try:
        tables = sa.inspect(reopened.engine).get_table_names()
        assert "secrets_alembic_version" in tables and "alembic_version" not in tables
        assert reopened.status().initialized and reopened.status().sealed
    finally:
        reopened.close()
