"""How long 5,000 records and a snapshot of them take (printed; asserted only loosely)."""

from __future__ import annotations

import time

import pytest

from stackwright.core.model import Address, Recorded
from stackwright.core.state import StateStore

pytestmark = pytest.mark.slow
COUNT = 5000


def test_record_and_snapshot_timing(store: StateStore, state_url: str) -> None:
    recs = [
        Recorded(
            Address("File", f"f{i}"),
            f"id-{i}",
            {"path": f"/srv/{i}", "mode": "0644", "env": {"TOKEN": f"t{i}"}},
            {"sha256": "ab" * 32, "size": i},
            depends_on=(Address("Dir", "srv"),),
            sensitive=frozenset({"env.TOKEN"}) if i % 10 == 0 else frozenset(),
        )
        for i in range(COUNT)
    ]
    started = time.perf_counter()
    for rec in recs:
        store.record("shop", "dev", rec, serial=1)
    recorded = time.perf_counter() - started
    started = time.perf_counter()
    snap = store.snapshot("shop", "dev")
    read = time.perf_counter() - started
    backend = state_url.split(":", 1)[0]
    print(
        f"\n[{backend}] {COUNT} records: {recorded:.3f} s "
        f"({recorded / COUNT * 1e6:.0f} us each); snapshot: {read:.3f} s"
    )
    assert len(snap.resources) == COUNT and snap.generation == COUNT
    assert snap.resources[Address("File", "f10")].inputs["env"]["TOKEN"] == "t10"
