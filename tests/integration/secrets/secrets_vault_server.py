"""Fixtures: a real uvicorn server on 127.0.0.1 and a free port, over a SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hvac
import pytest

from stackwright.secrets.api import serve
from stackwright.secrets.store import SecretsSettings, SecretsStore


@dataclass(frozen=True)
class VaultServer:
    url: str
    store: SecretsStore
    db_path: Path
    audit_path: Path

    def client(self, token: str | None = None) -> hvac.Client:
        return hvac.Client(url=self.url, token=token, timeout=10)


@pytest.fixture
def vault_server(tmp_path: Path) -> Iterator[VaultServer]:
    settings = SecretsSettings(
        database_url=f"sqlite:///{tmp_path / 'state.db'}", audit_path=tmp_path / "audit.jsonl"
    )
    store = SecretsStore.open(settings)
    with serve(store) as running:
        yield VaultServer(running.url, store, tmp_path / "state.db", settings.audit_path)
    store.close()


@pytest.fixture
def root_client(vault_server: VaultServer) -> hvac.Client:
    """Initialized with 5 shares, threshold 3, unsealed, authenticated as root."""
    client = vault_server.client()
    result = client.sys.initialize(5, 3)
    client.sys.submit_unseal_keys(result["keys"][:3])
    client.token = result["root_token"]
    return client
