"""Fixtures: a secrets store on a SQLite file in tmp_path, fresh or initialized and unsealed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stackwright.secrets.store import InitResult, SecretsSettings, SecretsStore


def make_settings(tmp_path: Path, **extra: object) -> SecretsSettings:
    return SecretsSettings(
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        audit_path=tmp_path / "audit.jsonl",
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
def settings_for() -> Callable[..., SecretsSettings]:
    """``settings_for(tmp_path, auto_unseal_key_file=...)``."""
    return make_settings


@pytest.fixture
def fresh_store(tmp_path: Path) -> Iterator[SecretsStore]:
    store = SecretsStore.open(make_settings(tmp_path))
    yield store
    store.close()


@pytest.fixture
def initialized(fresh_store: SecretsStore) -> InitResult:
    return fresh_store.init(shares=3, threshold=2)


@pytest.fixture
def store(fresh_store: SecretsStore, initialized: InitResult) -> SecretsStore:
    for key in initialized.keys_b64[:2]:
        fresh_store.unseal(key)
    assert not fresh_store.status().sealed
    return fresh_store
