"""The controller host (threads, settings, failures) and the services controller's decision."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from stackwright.core.controllers import ControllerContext, ControllerFactory, interval_setting
from stackwright.core.engine import Engine
from stackwright.core.model import Address, Recorded
from stackwright.errors import TemporaryError
from stackwright.registry import Registry
from stackwright.server.controllers import ControllerHost, _backoff
from stackwright.services.controller import needs_repair
from stackwright.services.replicas import LABEL_REVISION, LABEL_SERVICE
from stackwright.tools.podman_facts import ContainerSummary

WEB = Address("Service", "web")


def record(replicas: int = 2, revision: str = "r2") -> Recorded:
    return Recorded(WEB, "sw-p-dev-web", {"image": "x", "replicas": replicas},
                    {"revision": revision})


def container(name: str, state: str = "running", revision: str = "r2",
              service: str = "sw-p-dev-web") -> ContainerSummary:
    return ContainerSummary(id=name, name=name, image="x", state=state,
                            labels={LABEL_SERVICE: service, LABEL_REVISION: revision})


def test_a_service_with_all_replicas_running_needs_nothing() -> None:
    assert needs_repair(record(), [container("a"), container("b")]) is None


def test_a_missing_replica_is_named_in_the_reason() -> None:
    assert needs_repair(record(), [container("a")]) == "1 of 2 replicas running"


def test_an_exited_replica_needs_repair_even_at_full_count() -> None:
    seen = [container("a"), container("b"), container("c", state="exited")]
    assert needs_repair(record(), seen) == "replica(s) not running: c"


def test_replicas_of_another_revision_or_service_do_not_count() -> None:
    seen = [container("a"), container("b", revision="r1"), container("c", service="other")]
    assert needs_repair(record(), seen) == "1 of 2 replicas running"


def test_interval_setting_has_a_floor_and_a_default() -> None:
    assert interval_setting({}, 1.5) == 1.5
    assert interval_setting({"interval": "0.001"}, 1.0) == 0.05
    assert interval_setting({"interval": "soon"}, 2.0) == 2.0


def test_backoff_grows_is_capped_and_honours_temporary_delay() -> None:
    assert _backoff(RuntimeError("x"), 1.0, 1) == 2.0
    assert _backoff(RuntimeError("x"), 1.0, 3) == 8.0
    assert _backoff(RuntimeError("x"), 1.0, 50) == 30.0
    assert _backoff(TemporaryError("later", delay=7), 1.0, 1) == 7.0


class Counting:
    name: ClassVar[str] = "counting"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.interval = interval_setting(settings, 0.05)
        self.fail_first = int(settings.get("fail_first", 0))
        self.ticks = 0
        self.seen: list[tuple[str, str, int]] = []
        self.ticked = threading.Event()

    def tick(self, ctx: ControllerContext) -> None:
        self.ticks += 1
        if self.ticks <= self.fail_first:
            raise TemporaryError("not yet", delay=0.05)
        self.seen.append((ctx.project, ctx.environment, len(ctx.resources("File"))))
        if self.ticks >= 3:
            self.ticked.set()


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    (tmp_path / "stackwright.yaml").write_text(
        "project: ctl\nenvironments: {dev: {}}\nsettings:\n  controllers:\n"
        "    counting: {interval: 0.05, fail_first: 2}\n    idle: {enabled: false}\n")
    return Engine(tmp_path, environment="dev")


def test_host_runs_ticks_recovers_from_failures_and_skips_disabled(engine: Engine) -> None:
    made: list[Counting] = []

    def counting(settings: Mapping[str, Any]) -> Counting:
        made.append(Counting(settings))
        return made[-1]

    def broken(settings: Mapping[str, Any]) -> Counting:
        raise ImportError("plugin missing a module")

    registry = Registry[ControllerFactory]("controller")
    registry.add("counting", counting)
    registry.add("idle", counting)
    registry.add("broken", broken)
    events: list[tuple[str, dict[str, Any]]] = []
    host = ControllerHost(engine, lambda name, **f: events.append((name, f)), registry)
    host.start()
    try:
        assert len(made) == 1 and made[0].ticked.wait(5)
    finally:
        host.shutdown()
    status = host.status()
    assert [s["name"] for s in status] == ["counting"]
    assert status[0]["last_error"] is None and status[0]["ticks"] >= 3
    assert made[0].seen[0] == ("ctl", "dev", 0)
    names = [n for n, _ in events]
    assert names.count("controller.failed") == 2
    assert ("controller.disabled", {"controller": "idle"}) in events
    assert any(n == "controller.load_failed" and f["controller"] == "broken"
               for n, f in events)
    ticks = made[0].ticks
    time.sleep(0.2)
    assert made[0].ticks == ticks, "no tick after shutdown"


class HandsOff(Counting):
    """Hands each tick's work to a thread of its own, as the backups controller does."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        super().__init__(settings)
        self.release = threading.Event()
        self.work: list[threading.Thread] = []
        self.closed_with: list[float] = []

    def tick(self, ctx: ControllerContext) -> None:
        if not self.work:
            self.work.append(threading.Thread(target=self.release.wait, args=(30,)))
            self.work[0].start()
            self.ticked.set()

    def close(self, timeout: float) -> None:
        self.closed_with.append(timeout)
        self.release.set()
        self.work[0].join(timeout)


def test_shutdown_closes_controllers_after_their_loops_within_the_timeout(
        engine: Engine) -> None:
    made: list[HandsOff] = []
    registry = Registry[ControllerFactory]("controller")
    registry.add("counting", lambda settings: made.append(HandsOff(settings)) or made[-1])
    host = ControllerHost(engine, lambda name, **f: None, registry)
    host.start()
    assert made[0].ticked.wait(5)
    host.shutdown(timeout=20)
    assert len(made[0].closed_with) == 1 and 0 < made[0].closed_with[0] <= 20
    assert not made[0].work[0].is_alive(), "the handed-off work ended before shutdown returned"
    assert not host.threads[0].is_alive()
