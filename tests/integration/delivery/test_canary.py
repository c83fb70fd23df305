"""Canary rollouts through the real engine on real podman and HAProxy, in order on one
project: deploy, a good canary promoted through every step, a bad canary aborted by its
analysis, a manual gate promoted from the CLI, pause/resume/abort from the CLI, and low
traffic that is inconclusive rather than a pass."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from tests.integration.delivery.helpers import (
    WEB,
    Background,
    Load,
    apply,
    canary_share,
    cli,
    server_weights,
    status,
    truthful_after_abort,
    wait_for,
    write,
)

from stackwright.core.engine import Engine
from stackwright.ports import free_port

pytestmark = pytest.mark.slow

LB = free_port()
ANALYSIS = ("analysis: {{metrics: [{{name: errors, metric: error_ratio, interval: 1s, "
            "minRequests: {min}, failureCondition: result > 0.2, inconclusiveLimit: {inc}}}]}}")


def canary(steps: str, analysis: str = "") -> str:
    return "{strategy: canary, canary: {steps: [" + steps + "]" + \
        (", " + analysis if analysis else "") + "}}"


def revision(root: Path) -> str:
    engine = Engine(root)
    try:
        return str(engine.outputs()[str(WEB)]["revision"])
    finally:
        engine.close()


def shares_during(root: Path, old: str, stop: threading.Event, seen: set[float]) -> None:
    while not stop.is_set():
        try:
            weights = server_weights(root)
            if any(not n.startswith(old + "-") for n in weights):
                seen.add(round(100.0 - canary_share(weights, old)))
        except Exception:  # noqa: BLE001 - the LB answers again on the next look
            pass
        time.sleep(0.05)


def test_first_deploy_rolls_out(project_root: Path, image: str) -> None:
    write(project_root, image, LB, page="v1", deploy=canary("{setWeight: 50}"))
    outcome = apply(project_root)
    assert not outcome.result.failed, outcome.result.failed
    assert len(server_weights(project_root)) == 2


def test_good_canary_promotes_through_every_step(project_root: Path, image: str) -> None:
    old = revision(project_root)
    write(project_root, image, LB, page="v2", deploy=canary(
        "{setWeight: 25}, {pause: {duration: 4s}}, {setWeight: 50}, {pause: {duration: 4s}}",
        ANALYSIS.format(min=5, inc=100)))
    seen: set[float] = set()
    stop = threading.Event()
    watcher = threading.Thread(target=shares_during, args=(project_root, old, stop, seen))
    watcher.start()
    with Load(LB) as load:
        outcome = apply(project_root)
    stop.set()
    watcher.join()
    assert not outcome.result.failed, outcome.result.failed
    assert {25, 50} <= seen, f"canary shares seen in haproxy: {sorted(seen)}"
    assert set(load.codes) == {"200"}, load.codes
    assert load.bodies["v2"] > 0 and load.bodies["v1"] > 0
    new = revision(project_root)
    assert all(n.startswith(new + "-") for n in server_weights(project_root))
    doc = status(project_root)
    assert doc["state"] == "succeeded" and doc["step"] == 4
    assert any(m["phase"] == "Successful" for m in doc["measurements"])


def test_bad_canary_aborts_and_traffic_is_back_on_stable(project_root: Path,
                                                         image: str) -> None:
    stable = revision(project_root)
    write(project_root, image, LB, page="bad", error_rate=0.7, deploy=canary(
        "{setWeight: 20}, {pause: {duration: 60s}}, {setWeight: 100}",
        ANALYSIS.format(min=3, inc=100)))
    with Load(LB) as load:
        started = time.monotonic()
        outcome = apply(project_root)
        took = time.monotonic() - started
    message = outcome.result.failed[WEB]
    assert "aborted: analysis failed: errors: Failed" in message, message
    assert f"back on revision {stable}" in message
    assert took < 60, "the analysis did not stop the 60 s pause"
    assert all(n.startswith(stable + "-") for n in server_weights(project_root))
    assert load.codes["500"] > 0  # the canary did get traffic
    after = Load(LB)
    for _ in range(30):
        after.one()
    assert set(after.codes) == {"200"}, after.codes
    doc = status(project_root)
    assert doc["state"] == "aborted" and doc["weight"] == 0
    assert any(m["phase"] == "Failed" for m in doc["measurements"])
    engine = Engine(project_root)
    try:
        actions = [e.action for e in engine.store.audit_entries()]
    finally:
        engine.close()
    assert "rollout.aborted" in actions
    history = cli(project_root, "rollout", "history", "web")
    assert "aborted: analysis failed" in history.stdout
    truthful_after_abort(project_root, stable)


def test_manual_gate_promoted_from_the_cli(project_root: Path, image: str) -> None:
    old = revision(project_root)
    write(project_root, image, LB, page="v3", deploy=canary("{setWeight: 30}, {pause: {}}"))
    run = Background(project_root)
    wait_for("the gate", lambda: run.running() and status(project_root).get("state") == "paused"
             and status(project_root)["revision"] != old)
    assert round(100 - canary_share(server_weights(project_root), old)) == 30
    refused = cli(project_root, "apply", "--yes")
    assert refused.returncode != 0
    assert "locked" in refused.stderr + refused.stdout
    promoted = cli(project_root, "rollout", "promote", "web")
    assert promoted.returncode == 0, promoted.stderr
    outcome = run.result()
    assert not outcome.result.failed, outcome.result.failed
    assert status(project_root)["state"] == "succeeded"
    new = revision(project_root)
    assert new != old and all(n.startswith(new + "-") for n in server_weights(project_root))


def test_pause_resume_promote_and_abort_from_the_cli(project_root: Path,
                                                     image: str) -> None:
    stable = revision(project_root)
    write(project_root, image, LB, page="v4", deploy=canary(
        "{setWeight: 40}, {pause: {duration: 5m}}, {setWeight: 60}, {pause: {duration: 5m}}"))
    run = Background(project_root)
    wait_for("step 2", lambda: run.running() and status(project_root).get("step") == 2
             and status(project_root)["stable"] == stable)
    assert cli(project_root, "rollout", "pause", "web").returncode == 0
    wait_for("the pause", lambda: status(project_root)["state"] == "paused")
    assert cli(project_root, "rollout", "resume", "web").returncode == 0
    wait_for("the resume", lambda: status(project_root)["state"] == "progressing")
    assert status(project_root)["step"] == 2  # a 5-minute pause: still in it
    assert cli(project_root, "rollout", "promote", "web").returncode == 0
    wait_for("step 4", lambda: status(project_root)["step"] == 4)
    assert round(100 - canary_share(server_weights(project_root), stable)) == 60
    aborted = cli(project_root, "rollout", "abort", "web", "-o", "json")
    assert aborted.returncode == 0, aborted.stderr
    outcome = run.result()
    assert "abort from the CLI" in outcome.result.failed[WEB]
    assert all(n.startswith(stable + "-") for n in server_weights(project_root))
    doc = status(project_root)
    assert doc["state"] == "aborted"
    events = [e["what"] for e in doc["events"]]
    assert {"paused from the CLI", "resumed from the CLI", "promoted from the CLI"} <= set(
        events), events
    nothing = cli(project_root, "rollout", "promote", "web")
    assert nothing.returncode != 0 and "aborted" in nothing.stderr
    truthful_after_abort(project_root, stable)


def test_low_traffic_is_inconclusive_not_a_pass(project_root: Path, image: str) -> None:
    stable = revision(project_root)
    write(project_root, image, LB, page="v5", deploy=canary(
        "{setWeight: 50}, {pause: {duration: 90s}}", ANALYSIS.format(min=20, inc=1)))
    run = Background(project_root)  # no load: a request or two, never 20 a second
    wait_for("the inconclusive pause",
             lambda: run.running() and status(project_root).get("state") == "paused"
             and status(project_root)["stable"] == stable, timeout=120)
    doc = status(project_root)
    assert "inconclusive" in doc["message"]
    phases = {m["phase"] for m in doc["measurements"]}
    assert phases == {"Inconclusive"}, phases
    assert cli(project_root, "rollout", "abort", "web").returncode == 0
    assert "aborted" in run.result().result.failed[WEB]
    assert all(n.startswith(stable + "-") for n in server_weights(project_root))
