"""KV v2 semantics against the store object, on a SQLite file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from stackwright.secrets.errors import InvalidRequestError, NotFoundError, SealedError
from stackwright.secrets.kv2 import CAS_MISMATCH, MetadataUpdate
from stackwright.secrets.store import InitResult, SecretsStore

M = "secret"


def test_versions_read_latest_and_specific(store: SecretsStore) -> None:
    assert store.kv.write(M, "app/db", {"password": "one"}).meta.version == 1
    assert store.kv.write(M, "app/db", {"password": "two"}).meta.version == 2
    assert store.kv.read(M, "app/db").data == {"password": "two"}
    assert store.kv.read(M, "app/db", 1).data == {"password": "one"}
    with pytest.raises(NotFoundError):
        store.kv.read(M, "app/db", 3)
    with pytest.raises(NotFoundError):
        store.kv.read(M, "app/missing")


def test_check_and_set(store: SecretsStore) -> None:
    store.kv.write(M, "k", {"v": "1"}, cas=0)
    with pytest.raises(InvalidRequestError, match=CAS_MISMATCH):
        store.kv.write(M, "k", {"v": "2"}, cas=0)
    store.kv.write(M, "k", {"v": "2"}, cas=1)
    with pytest.raises(InvalidRequestError, match=CAS_MISMATCH):
        store.kv.write(M, "k", {"v": "3"}, cas=1)
    assert store.kv.read(M, "k").data == {"v": "2"}


def test_cas_required_by_mount_and_by_key(store: SecretsStore) -> None:
    store.kv.write_metadata(M, "strict", MetadataUpdate(cas_required=True))
    with pytest.raises(InvalidRequestError, match="required"):
        store.kv.write(M, "strict", {"a": "b"})
    store.kv.write(M, "strict", {"a": "b"}, cas=0)
    store.kv.write(M, "loose", {"a": "b"})
    store.kv.write_config(M, MetadataUpdate(cas_required=True))
    with pytest.raises(InvalidRequestError, match="required"):
        store.kv.write(M, "loose", {"a": "c"})
    assert store.kv.read_config(M).cas_required


def test_max_versions_prunes_oldest(store: SecretsStore) -> None:
    store.kv.write_config(M, MetadataUpdate(max_versions=3))
    for i in range(5):
        store.kv.write(M, "k", {"i": i})
    meta = store.kv.read_metadata(M, "k")
    assert [v.version for v in meta.versions] == [3, 4, 5]
    assert meta.to_json()["oldest_version"] == 3
    store.kv.write_metadata(M, "k", MetadataUpdate(max_versions=1))
    store.kv.write(M, "k", {"i": 5})
    assert [v.version for v in store.kv.read_metadata(M, "k").versions] == [6]


def test_delete_undelete_destroy(store: SecretsStore) -> None:
    for i in range(3):
        store.kv.write(M, "k", {"i": i})
    store.kv.delete_latest(M, "k")
    latest = store.kv.read(M, "k")
    assert latest.data is None and latest.meta.deletion_us
    store.kv.undelete(M, "k", [3])
    assert store.kv.read(M, "k").data == {"i": 2}
    store.kv.delete_versions(M, "k", [1, 2])
    store.kv.destroy(M, "k", [1])
    assert store.kv.read(M, "k", 1).meta.destroyed
    store.kv.undelete(M, "k", [1, 2])
    assert store.kv.read(M, "k", 1).data is None  # destroyed stays destroyed
    assert store.kv.read(M, "k", 2).data == {"i": 1}
    with pytest.raises(InvalidRequestError):
        store.kv.destroy(M, "k", [])
    store.kv.delete_metadata(M, "k")
    with pytest.raises(NotFoundError):
        store.kv.read_metadata(M, "k")


def test_list_keys_and_folders(store: SecretsStore) -> None:
    for path in ("a", "b/c", "b/d/e", "b_x", "c%"):
        store.kv.write(M, path, {"x": "y"})
    assert store.kv.list(M, "") == ["a", "b/", "b_x", "c%"]
    assert store.kv.list(M, "b/") == ["c", "d/"]
    assert store.kv.list(M, "b/d") == ["e"]
    with pytest.raises(NotFoundError):
        store.kv.list(M, "nothing")


def test_custom_metadata_and_delete_version_after(store: SecretsStore) -> None:
    store.kv.write_metadata(
        M, "k", MetadataUpdate(custom_metadata={"owner": "team-a"}, delete_version_after=1)
    )
    written = store.kv.write(M, "k", {"v": "x"})
    assert written.custom_metadata == {"owner": "team-a"}
    assert store.kv.read(M, "k").data == {"v": "x"}
    time.sleep(1.05)
    assert store.kv.read(M, "k").data is None
    meta = store.kv.read_metadata(M, "k").to_json()
    assert meta["custom_metadata"] == {"owner": "team-a"}
    assert meta["delete_version_after"] == "1s"
    with pytest.raises(InvalidRequestError):
        store.kv.write_metadata(M, "k", MetadataUpdate(custom_metadata={"k": "v" * 513}))


def test_sealed_store_refuses_and_reopened_store_keeps_data(
    tmp_path: Path, store: SecretsStore, initialized: InitResult
) -> None:
    store.kv.write(M, "app/token", {"token": "s3cr3t-value-123"})
    store.seal()
    with pytest.raises(SealedError):
        store.kv.read(M, "app/token")
    store.close()
    reopened = SecretsStore.open(store.settings)
    try:
        assert reopened.status().sealed and reopened.status().initialized
        for key in initialized.keys_hex[1:]:
            reopened.unseal(key)
        assert reopened.kv.read(M, "app/token").data == {"token": "s3cr3t-value-123"}
    finally:
        reopened.close()


def test_plaintext_never_reaches_the_database(tmp_path: Path, store: SecretsStore) -> None:
    planted = "PLANTED-kv-value-7f3a9c"
    store.kv.write(M, "planted", {"password": planted})
    store.kv.write_metadata(M, "planted", MetadataUpdate(custom_metadata={"note": planted}))
    store.policies.put("p", f'# {planted}\npath "x" {{ capabilities = ["read"] }}')
    assert store.kv.read(M, "planted").data == {"password": planted}
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))
    assert raw and planted.encode() not in raw
