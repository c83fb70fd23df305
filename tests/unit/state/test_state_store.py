"""The state store on SQLite and (slow) PostgreSQL: records, secrets, history, moves."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
from tests.fixtures.state import raw_sql

from stackwright.core.model import Address, Recorded, Status
from stackwright.core.state import AuditEvent, Cipher, StateStore
from stackwright.core.values import UNKNOWN
from stackwright.errors import SecretsError, StateError

WEB = Address("Container", "web")
DB = Address("Database", "main")


def _db(secret: str = "s3cret") -> Recorded:
    return Recorded(
        address=DB,
        id="db-1",
        inputs={"name": "main", "password": secret},
        outputs={"url": f"postgres://app:{secret}@db/main", "port": 5432},
        sensitive=frozenset({"password"}),
        sensitive_outputs=frozenset({"url"}),
    )


def _web() -> Recorded:
    return Recorded(
        address=WEB,
        id="c-1",
        inputs={"image": "nginx", "env": {"A": "1"}},
        outputs={"ip": "10.0.0.2"},
        depends_on=(DB,),
    )


def test_record_snapshot_round_trip(store: StateStore) -> None:
    store.record("shop", "dev", _db(), serial=1)
    store.record("shop", "dev", _web(), serial=2)
    snap = store.snapshot("shop", "dev")
    assert set(snap.resources) == {DB, WEB}
    db = snap.resources[DB]
    assert db.inputs == {"name": "main", "password": "s3cret"}
    assert db.outputs["url"] == "postgres://app:s3cret@db/main"
    assert db.sensitive == {"password"} and db.sensitive_outputs == {"url"}
    assert db.status is Status.READY and db.serial == 1
    assert snap.resources[WEB].depends_on == (DB,)
    assert snap.resources[WEB].serial == 2
    assert store.snapshot("shop", "prod").resources == {}


def test_generation_grows_with_every_write(store: StateStore) -> None:
    assert store.snapshot("shop", "dev").generation == 0
    store.mark_started("shop", "dev", DB, Status.CREATING, serial=1, depends_on=())
    store.record("shop", "dev", _db(), serial=1)
    assert store.snapshot("shop", "dev").generation == 2
    store.move("shop", "dev", DB, Address("Database", "other"))
    store.remove("shop", "dev", Address("Database", "other"), serial=2)
    assert store.snapshot("shop", "dev").generation == 4
    assert store.snapshot("shop", "prod").generation == 0


def test_mark_started_keeps_prior_record(store: StateStore) -> None:
    store.mark_started("shop", "dev", WEB, Status.CREATING, serial=1, depends_on=(DB,))
    fresh = store.snapshot("shop", "dev").resources[WEB]
    assert (fresh.status, fresh.id, fresh.inputs, fresh.depends_on) == (
        Status.CREATING,
        None,
        {},
        (DB,),
    )
    store.record("shop", "dev", _db(), serial=1)
    store.mark_started("shop", "dev", DB, Status.UPDATING, serial=2, depends_on=())
    started = store.snapshot("shop", "dev").resources[DB]
    assert started.status is Status.UPDATING and started.serial == 2
    assert started.id == "db-1" and started.inputs["password"] == "s3cret"
    with pytest.raises(StateError):
        store.mark_started("shop", "dev", DB, Status.READY, serial=2, depends_on=())


def test_sensitive_values_are_not_stored_in_clear(store: StateStore, state_url: str) -> None:
    planted = f"planted-{uuid.uuid4().hex}"
    store.record("shop", "dev", _db(planted), serial=1)
    assert store.snapshot("shop", "dev").resources[DB].inputs["password"] == planted
    stored = raw_sql(state_url, "SELECT inputs, outputs FROM resources")
    assert stored and planted not in repr(stored)
    assert '"$enc"' in str(stored[0][0])
    if state_url.startswith("sqlite"):
        db_file = Path(state_url.removeprefix("sqlite:///"))
        for path in (db_file, db_file.with_name(db_file.name + "-wal")):
            if path.exists():
                assert planted.encode() not in path.read_bytes()
        assert b"planted-" not in db_file.read_bytes()


def test_wrong_key_fails_clearly(store: StateStore, state_url: str) -> None:
    store.record("shop", "dev", _db(), serial=1)
    other = StateStore.open(state_url, cipher=Cipher.generate())
    try:
        with pytest.raises(SecretsError) as err:
            other.snapshot("shop", "dev")
        assert "STACKWRIGHT_STATE_KEY" in str(err.value)
    finally:
        other.close()


def test_ciphertext_copied_to_another_row_does_not_open(store: StateStore, state_url: str) -> None:
    store.record("shop", "dev", _db(), serial=1)
    store.record(
        "shop",
        "dev",
        Recorded(
            address=Address("Database", "copy"),
            id="x",
            inputs={"password": "other"},
            outputs={},
            sensitive=frozenset({"password"}),
        ),
        serial=1,
    )
    raw_sql(
        state_url,
        "UPDATE resources SET inputs = (SELECT inputs FROM resources "
        "WHERE address = 'Database/main') WHERE address = 'Database/copy'",
    )
    with pytest.raises(SecretsError):
        store.snapshot("shop", "dev")


def test_record_refuses_values_unknown_until_apply(store: StateStore) -> None:
    rec = Recorded(address=WEB, id="x", inputs={"ip": UNKNOWN}, outputs={})
    with pytest.raises(StateError):
        store.record("shop", "dev", rec, serial=1)


def test_reopen_keeps_state(store: StateStore, state_url: str, state_key: Cipher) -> None:
    store.record("shop", "dev", _db(), serial=1)
    store.close()
    again = StateStore.open(state_url, cipher=state_key)
    try:
        assert again.snapshot("shop", "dev").resources[DB].inputs["password"] == "s3cret"
    finally:
        again.close()
    with pytest.raises(StateError):
        store.snapshot("shop", "dev")


def test_history_serials_per_workspace(store: StateStore) -> None:
    serials = [store.begin_run("shop", "dev", operation="apply", actor="ana") for _ in range(3)]
    assert serials == [1, 2, 3]
    assert store.begin_run("shop", "prod", operation="apply", actor="ana") == 1
    store.finish_run("shop", "dev", 2, status="failed", summary={"failed": ["Container/web"]})
    runs = store.history("shop", "dev")
    assert [r.serial for r in runs] == [1, 2, 3]
    assert runs[1].status == "failed" and runs[1].finished_at
    assert runs[1].summary == {"failed": ["Container/web"]}
    assert runs[0].status == "running" and runs[0].finished_at is None
    assert runs[0].operation == "apply" and runs[0].actor == "ana"
    with pytest.raises(StateError):
        store.finish_run("shop", "dev", 99, status="ok", summary={})


def test_move_reseals_and_repoints(store: StateStore) -> None:
    store.record("shop", "dev", _db(), serial=1)
    store.record("shop", "dev", _web(), serial=1)
    renamed = Address("Database", "primary")
    store.move("shop", "dev", DB, renamed)
    snap = store.snapshot("shop", "dev")
    assert DB not in snap.resources
    assert snap.resources[renamed].inputs["password"] == "s3cret"
    assert snap.resources[renamed].address == renamed
    assert snap.resources[WEB].depends_on == (renamed,)
    with pytest.raises(StateError, match="already in the state"):
        store.move("shop", "dev", WEB, renamed)
    with pytest.raises(StateError, match="not in the state"):
        store.move("shop", "dev", DB, Address("Database", "x"))


def test_remove_with_audit(store: StateStore) -> None:
    store.record("shop", "dev", _web(), serial=1)
    event = AuditEvent("ana", "resource.delete", "shop", "dev", {"address": str(WEB)})
    store.remove("shop", "dev", WEB, serial=2, audit=event)
    assert store.snapshot("shop", "dev").resources == {}
    assert [e.action for e in store.audit_entries(project="shop")] == ["resource.delete"]
    with pytest.raises(StateError):
        store.remove("shop", "dev", WEB, serial=3)


def test_failed_write_leaves_no_audit_entry(store: StateStore) -> None:
    with pytest.raises(StateError):
        store.remove("shop", "dev", WEB, serial=1, audit=AuditEvent("ana", "resource.delete"))
    assert store.audit_entries() == []


def test_concurrent_records_from_worker_threads(store: StateStore) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(40):
                address = Address("File", f"w{worker}-{i}")
                store.mark_started("shop", "dev", address, Status.CREATING, serial=1, depends_on=())
                store.record(
                    "shop",
                    "dev",
                    Recorded(address, f"id{i}", {"i": i}, {}),
                    serial=1,
                    audit=AuditEvent("ana", "create", "shop", "dev"),
                )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    snap = store.snapshot("shop", "dev")
    assert len(snap.resources) == 240 and snap.generation == 480
    assert all(r.status is Status.READY for r in snap.resources.values())
    report = store.audit_verify()
    assert report.ok and report.entries == 240
