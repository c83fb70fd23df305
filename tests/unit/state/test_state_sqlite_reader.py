"""The standard-library reader returns exactly what the store returns, or steps aside."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from stackwright.core.model import Address, Recorded, Status
from stackwright.core.state import Cipher, StateStore, default_url
from stackwright.core.state.sqlite_reader import read_snapshot, sqlite_path


def _fill(store: StateStore) -> None:
    serial = store.begin_run("p", "dev", operation="apply", actor="t")
    for i in range(5):
        rec = Recorded(Address("File", f"f{i}"), f"id{i}", {"path": f"f{i}", "content": f"c{i}"},
                       {"sha256": "x" * i}, Status.READY, (Address("File", "f0"),) if i else (),
                       sensitive=frozenset({"content"}) if i % 2 else frozenset(),
                       sensitive_outputs=frozenset({"sha256"}) if i == 3 else frozenset())
        store.record("p", "dev", rec, serial=serial)
    store.mark_started("p", "dev", Address("File", "f9"), Status.CREATING, serial=serial,
                       depends_on=())
    store.record("p", "prod", Recorded(Address("File", "other"), "o", {}, {}), serial=serial)


def test_reader_matches_store(tmp_path: Path) -> None:
    cipher = Cipher(bytes(range(32)))
    url = default_url(tmp_path)
    store = StateStore.open(url, cipher=cipher)
    _fill(store)
    expected = store.snapshot("p", "dev")
    store.close()
    path = sqlite_path(url)
    assert path is not None
    got = read_snapshot(path, "p", "dev", cipher)
    assert got == expected
    assert got is not None and len(got.resources) == 6
    assert got.resources[Address("File", "f1")].inputs["content"] == "c1"
    assert read_snapshot(path, "p", "nowhere", cipher) == StateStore.open(
        url, cipher=cipher).snapshot("p", "nowhere")


def test_reader_steps_aside(tmp_path: Path) -> None:
    cipher = Cipher(bytes(range(32)))
    assert sqlite_path("postgresql://x/y") is None
    assert read_snapshot(tmp_path / "missing.db", "p", "dev", cipher) is None
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num TEXT)")
        conn.execute("INSERT INTO alembic_version VALUES ('0000')")
    assert read_snapshot(old, "p", "dev", cipher) is None, "an old schema goes to the store"
