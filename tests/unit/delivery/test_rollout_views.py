"""What the API's metrics and the console panel make of rollout records in a real SQLite
state database: counts by strategy and outcome, the live weight, the panel's fragment (its
text escaped, its buttons for operators only, its polling only while the rollout runs)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from stackwright.delivery.console import fragment
from stackwright.delivery.records import RolloutStore


def test_summary_counts_by_strategy_and_state_and_keeps_the_latest(tmp_path: Path) -> None:
    store = RolloutStore(f"sqlite:///{tmp_path / 'state.db'}")
    for service, strategy, state in [("web", "canary", "aborted"), ("web", "canary", None),
                                     ("api", "blueGreen", "succeeded")]:
        rec = store.begin("p", "dev", service, strategy=strategy, stable="a", revision="b",
                          steps=2, actor="me")
        if state:
            store.update(rec.id, state=state)
        else:
            store.update(rec.id, weight=30)
    counts, latest = store.summary("p", "dev")
    assert counts == {("canary", "aborted"): 1, ("canary", "progressing"): 1,
                      ("blueGreen", "succeeded"): 1}
    assert [(r.service, r.state, r.weight) for r in latest] == [
        ("api", "succeeded", 0), ("web", "progressing", 30)]
    assert store.summary("other", "dev") == ({}, [])
    store.close()


def test_the_panel_escapes_and_offers_buttons_to_operators_only(tmp_path: Path) -> None:
    store = RolloutStore(f"sqlite:///{tmp_path / 'state.db'}")
    rec = store.update(store.begin("p", "dev", "web", strategy="canary", stable="a",
                                   revision="b", steps=2, actor="me").id,
                       event="<script>x</script>", message="a & b", state="paused")
    ops, dev = SimpleNamespace(role="operator"), SimpleNamespace(role="developer")
    html = fragment("web", rec, ops)
    assert "<script>" not in html and "&lt;script&gt;" in html and "a &amp; b" in html
    assert 'hx-post="/api/v1/rollouts/web/promote"' in html and 'hx-trigger="every 1s"' in html
    assert "hx-post" not in fragment("web", rec, dev)
    done = store.update(rec.id, state="succeeded")
    assert "hx-trigger" not in fragment("web", done, ops) and "hx-post" not in fragment(
        "web", done, ops)
    assert "No canary or blue/green rollout" in fragment("web", None, ops)
    store.close()


def test_a_request_names_who_asked(tmp_path: Path) -> None:
    store = RolloutStore(f"sqlite:///{tmp_path / 'state.db'}")
    store.begin("p", "dev", "web", strategy="canary", stable="a", revision="b", steps=2,
                actor="me")
    asked = store.request("p", "dev", "web", "pause", by="ops through the API")
    assert asked.command == "pause"
    assert asked.events[-1]["what"] == "pause requested by ops through the API"
    assert store.request("p", "dev", "web", "resume").events == asked.events
    store.close()
