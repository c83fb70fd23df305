from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from stackwright.errors import SecretsError
from stackwright.secrets.errors import InvalidRequestError, NotInitializedError, SealedError
from stackwright.secrets.store import (
    InitResult,
    SecretsSettings,
    SecretsStore,
    write_unseal_key_file,
)

SettingsFor = Callable[..., SecretsSettings]


def test_init_returns_cli_fields_once(fresh_store: SecretsStore) -> None:
    assert not fresh_store.status().initialized
    result = fresh_store.init(shares=5, threshold=3)
    cli = result.to_cli_json()
    assert cli["unseal_shares"] == 5 and cli["unseal_threshold"] == 3
    assert len(cli["unseal_keys_b64"]) == 5 and len(set(cli["unseal_keys_hex"])) == 5
    assert cli["root_token"].startswith("hvs.") and cli["recovery_keys_b64"] == []
    assert fresh_store.status().sealed
    with pytest.raises(InvalidRequestError, match="already initialized"):
        fresh_store.init(shares=1, threshold=1)


def test_unseal_progress_wrong_share_and_reset(
    fresh_store: SecretsStore, initialized: InitResult
) -> None:
    status = fresh_store.unseal(initialized.keys_b64[0])
    assert (status.sealed, status.progress, status.threshold, status.shares) == (True, 1, 2, 3)
    wrong = bytes(33).hex()
    with pytest.raises(InvalidRequestError, match="not one of this store's key shares"):
        fresh_store.unseal(wrong)
    with pytest.raises(InvalidRequestError, match="valid hex or base64"):
        fresh_store.unseal("not a key!")
    assert fresh_store.status().progress == 1
    with pytest.raises(InvalidRequestError, match="already provided"):
        fresh_store.unseal(initialized.keys_hex[0])
    assert fresh_store.reset_unseal().progress == 0
    fresh_store.unseal(initialized.keys_hex[2])
    assert not fresh_store.unseal(initialized.keys_b64[1]).sealed


def test_unseal_before_init_and_sealed_keys(fresh_store: SecretsStore) -> None:
    with pytest.raises(NotInitializedError):
        fresh_store.unseal("00" * 33)
    with pytest.raises(SealedError):
        fresh_store.barrier.keys()


def test_auto_unseal_from_key_file(
    tmp_path: Path, fresh_store: SecretsStore, initialized: InitResult, settings_for: SettingsFor
) -> None:
    fresh_store.close()
    key_file = tmp_path / "unseal.keys"
    write_unseal_key_file(key_file, initialized.keys_b64[:2])
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    store = SecretsStore.open(settings_for(tmp_path, auto_unseal_key_file=key_file))
    try:
        status = store.status()
        assert not status.sealed and status.auto_unsealed
        assert status.to_json()["auto_unsealed"] is True
    finally:
        store.close()
    os.chmod(key_file, 0o644)
    with pytest.raises(SecretsError, match="readable by others"):
        SecretsStore.open(settings_for(tmp_path, auto_unseal_key_file=key_file))


def test_auto_unseal_with_too_few_shares_fails(
    tmp_path: Path, fresh_store: SecretsStore, initialized: InitResult, settings_for: SettingsFor
) -> None:
    fresh_store.close()
    key_file = tmp_path / "unseal.keys"
    write_unseal_key_file(key_file, initialized.keys_b64[:1])
    with pytest.raises(InvalidRequestError, match="need 2 valid key shares"):
        SecretsStore.open(settings_for(tmp_path, auto_unseal_key_file=key_file))


def test_one_store_per_audit_file(fresh_store: SecretsStore) -> None:
    with pytest.raises(SecretsError, match="in use by another store"):
        SecretsStore.open(fresh_store.settings)
