"""Rollouts run by the project's daemon on real podman and HAProxy: an ``apply --yes`` handed
over ``cli.sock`` runs the canary in the daemon; ``apply --no-wait`` returns once the canary
is underway and the daemon carries it on; a second apply meanwhile is refused naming the
holder, and goes through once the rollout is aborted.

The tests of this module run in order on one project (the daemon runs across them).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.delivery.helpers import (
    ROLES,
    STACKWRIGHT,
    Daemon,
    canary_share,
    handed,
    server_weights,
    status,
    wait_for,
    write,
)

from stackwright.core.engine import Engine
from stackwright.core.model import Status
from stackwright.ports import free_port

pytestmark = pytest.mark.slow

LB = free_port()
SETTINGS = """\
settings:
  controllers:
    services: {interval: 0.5}
    loadbalancers: {interval: 0.5}
"""


def canary(steps: str) -> str:
    return "{strategy: canary, canary: {steps: [" + steps + "]}}"


def record(root: Path) -> tuple[Status, str]:
    engine = Engine(root)
    try:
        rec = engine.snapshot().resources[next(a for a in engine.snapshot().resources
                                               if a.kind == "Service")]
    finally:
        engine.close()
    return rec.status, str(rec.outputs.get("revision"))


@pytest.fixture(scope="module")
def daemon(project_root: Path, image: str) -> Iterator[Daemon]:
    config = project_root / "stackwright.yaml"
    config.write_text(config.read_text() + SETTINGS)
    write(project_root, image, LB, page="v1", deploy=canary("{setWeight: 50}"))
    first = handed(project_root, "apply", "--yes")  # no daemon yet: runs here
    assert first.returncode == 0, first.stdout + first.stderr
    d = Daemon(project_root)
    d.add_users(ROLES)
    d.start()
    try:
        yield d
    finally:
        d.stop()


def test_apply_hands_a_canary_to_the_daemon(daemon: Daemon, project_root: Path,
                                            image: str) -> None:
    _, old = record(project_root)
    write(project_root, image, LB, page="v2",
          deploy=canary("{setWeight: 50}, {pause: {duration: 2s}}"))
    done = handed(project_root, "apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "canary rollout" in done.stdout and "step 1/2: setWeight 50" in done.stdout
    doc = status(project_root)
    assert doc["state"] == "succeeded" and doc["stable"] == old
    assert doc["runner_pid"] == daemon.pid  # the daemon ran it, not this CLI
    assert "cli.run" in [e["event"] for e in daemon.events()]
    assert record(project_root) == (Status.READY, doc["revision"])


def test_no_wait_returns_and_the_daemon_carries_the_canary_on(daemon: Daemon,
                                                              project_root: Path,
                                                              image: str) -> None:
    _, old = record(project_root)
    write(project_root, image, LB, page="v3", deploy=canary("{setWeight: 30}, {pause: {}}"))
    done = handed(project_root, "apply", "--yes", "--no-wait", "-o", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == {"ok": True, "detached": True,
                                       "underway": ["Service/web"]}
    wait_for("the gate", lambda: status(project_root)["state"] == "paused"
             and status(project_root)["stable"] == old)
    doc = status(project_root)
    assert doc["runner_pid"] == daemon.pid
    assert round(100 - canary_share(server_weights(project_root), old)) == 30
    refused = handed(project_root, "apply", "--yes")
    assert refused.returncode != 0
    assert "for 'apply; Service/web: canary rollout" in refused.stderr, refused.stderr
    assert "`stackwright rollout abort web` ends it" in refused.stderr
    promoted = handed(project_root, "rollout", "promote", "web")
    assert promoted.returncode == 0, promoted.stderr
    wait_for("the canary promoted", lambda: status(project_root)["state"] == "succeeded")
    wait_for("the record", lambda: record(project_root) == (Status.READY, doc["revision"]))
    assert all(n.startswith(doc["revision"] + "-") for n in server_weights(project_root))


def test_an_apply_during_a_rollout_goes_through_once_it_is_aborted(daemon: Daemon,
                                                                   project_root: Path,
                                                                   image: str) -> None:
    _, stable = record(project_root)
    write(project_root, image, LB, page="v4", deploy=canary("{setWeight: 20}, {pause: {}}"))
    assert handed(project_root, "apply", "--yes", "--no-wait").returncode == 0
    wait_for("the gate", lambda: status(project_root)["state"] == "paused"
             and status(project_root)["stable"] == stable)
    write(project_root, image, LB, page="v5", deploy=canary("{setWeight: 50}"))
    refused = handed(project_root, "apply", "--yes")
    assert refused.returncode != 0 and "canary rollout" in refused.stderr, refused.stderr
    assert handed(project_root, "rollout", "abort", "web").returncode == 0
    done = handed(project_root, "apply", "--yes", "--lock-timeout", "120")
    assert done.returncode == 0, done.stdout + done.stderr
    history = json.loads(handed(project_root, "rollout", "history", "web", "-o",
                                "json").stdout)
    assert [h["state"] for h in history[-2:]] == ["aborted", "succeeded"]
    assert history[-1]["stable"] == stable  # the aborted v4 never became stable
    status_now, revision = record(project_root)
    assert status_now is Status.READY and revision == history[-1]["revision"]


def test_no_wait_without_a_daemon_says_what_it_needs(project_root: Path,
                                                     daemon: Daemon) -> None:
    alone = subprocess.run([STACKWRIGHT, "-C", str(project_root), "apply", "--yes",
                            "--no-wait"], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "STACKWRIGHT_NO_DAEMON": "1"})
    assert alone.returncode != 0
    assert "apply --no-wait needs the project's daemon" in alone.stderr
    assert "stackwright up" in alone.stderr


def follow(client: httpx.Client, path: str, into: list[dict[str, Any]]) -> None:
    """The rollout's server-sent events, each ``event: rollout`` record kept, until ``end``."""
    with client.stream("GET", path, timeout=180) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith(
            "text/event-stream")
        kind = ""
        for line in resp.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
                if kind == "end":
                    return
            elif line.startswith("data: ") and kind == "rollout":
                into.append(json.loads(line.removeprefix("data: ")))


def test_the_api_shows_streams_and_steers_a_rollout(daemon: Daemon, project_root: Path,
                                                    image: str) -> None:
    import threading

    _, old = record(project_root)
    write(project_root, image, LB, page="v6", deploy=canary("{setWeight: 30}, {pause: {}}"))
    assert handed(project_root, "apply", "--yes", "--no-wait").returncode == 0
    wait_for("the gate", lambda: status(project_root)["state"] == "paused"
             and status(project_root)["stable"] == old)
    vic, dev, ops = daemon.client("vic"), daemon.client("dev"), daemon.client("ops")
    shown = vic.get("/api/v1/rollouts/web")
    assert shown.status_code == 200 and shown.json()["state"] == "paused"
    assert shown.json()["weight"] == 30
    metrics = vic.get("/api/v1/observe/metrics").text
    assert 'stackwright_rollout_weight{service="web",strategy="canary"} 30.0' in metrics
    assert 'stackwright_rollout_active{service="web"} 1.0' in metrics
    started = _sample(metrics, 'stackwright_rollouts_started_total{strategy="canary"}')
    promoted = _sample(metrics, 'stackwright_rollouts_promoted_total{strategy="canary"}')
    seen: list[dict[str, Any]] = []
    streamer = threading.Thread(target=follow, args=(vic, "/api/v1/rollouts/web/events", seen))
    streamer.start()
    wait_for("the first event", lambda: bool(seen), 30)
    assert dev.post("/api/v1/rollouts/web/promote").status_code == 403
    assert vic.post("/api/v1/rollouts/web/pause").status_code == 403
    sent = ops.post("/api/v1/rollouts/web/promote")
    assert sent.status_code == 200, sent.text
    assert sent.json()["command"] == "promote" and sent.json()["service"] == "web"
    streamer.join(180)
    assert not streamer.is_alive()
    states = [doc["state"] for doc in seen]
    assert states[0] == "paused" and states[-1] == "succeeded", states
    assert any(doc["weight"] == 100 for doc in seen)
    late = ops.post("/api/v1/rollouts/web/abort")
    assert late.status_code == 409 and "succeeded" in late.json()["detail"]
    assert vic.get("/api/v1/rollouts/nothing").status_code == 404
    history = vic.get("/api/v1/rollouts/web/history").json()["rollouts"]
    assert history[-1]["state"] == "succeeded" and history[-1]["id"] == shown.json()["id"]
    after = vic.get("/api/v1/observe/metrics").text
    assert _sample(after, 'stackwright_rollouts_promoted_total{strategy="canary"}') \
        == promoted + 1
    assert _sample(after, 'stackwright_rollouts_started_total{strategy="canary"}') == started
    assert 'stackwright_rollout_weight{service="web",strategy="canary"} 0.0' in after
    audit = ops.get("/api/v1/audit").json()
    paths = json.dumps(audit)
    assert "/api/v1/rollouts/web/promote" in paths


def _sample(text: str, name: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith(name + " "))
    return float(line.split()[-1])
