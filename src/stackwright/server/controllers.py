"""The daemon's controller host: every registered controller in its own thread.

Controllers come from the ``stackwright.controllers`` entry-point group (see
:mod:`stackwright.core.controllers`). Each is configured by ``settings.controllers.<name>``
in stackwright.yaml (``enabled``, ``interval`` and the controller's own keys). A tick that
raises is logged and retried with a growing delay (a :class:`TemporaryError` gives its own),
so one broken controller never stops the others or the API.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from stackwright.core.controllers import Controller, ControllerFactory, controller_registry
from stackwright.core.executor import Event
from stackwright.core.kinds import DriverContext
from stackwright.core.model import Address, Recorded
from stackwright.errors import StackwrightError, TemporaryError
from stackwright.registry import Registry

if TYPE_CHECKING:
    from stackwright.core.engine import Engine

EventLog = Callable[..., None]
MAX_BACKOFF = 30.0


@dataclass
class ControllerState:
    """What ``status`` shows of one controller."""

    name: str
    interval: float
    ticks: int = 0
    repairs: int = 0
    failures: int = 0
    last_tick: str | None = None
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "interval_s": self.interval, "ticks": self.ticks,
                "repairs": self.repairs, "last_tick": self.last_tick,
                "last_error": self.last_error}


@dataclass
class DaemonControllerContext:
    """The :class:`~stackwright.core.controllers.ControllerContext` of one controller."""

    engine: Engine
    log: EventLog
    state: ControllerState
    stop: threading.Event
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def project(self) -> str:
        return self.engine.name

    @property
    def environment(self) -> str:
        return self.engine.environment

    def resources(self, kind: str) -> dict[Address, Recorded]:
        snapshot = self.engine.snapshot()
        return {a: r for a, r in snapshot.resources.items() if a.kind == kind}

    def driver_context(self, address: Address) -> DriverContext:
        name = self.state.name
        return self.engine.driver_context(
            address, lambda line: self.log("controller.progress", controller=name,
                                           address=str(address), line=line))

    def repair(self, address: Address, reason: str,
               inputs: Mapping[str, Any] | None = None) -> bool:
        from stackwright.core.repair import repair

        outcome = repair(self.engine, address, who=f"daemon/{self.state.name}", reason=reason,
                         inputs=inputs, on_event=self._progress)
        if outcome is None:
            return False
        failed = outcome.result.failed.get(address)
        if failed is not None:
            raise StackwrightError(f"repair of {address} failed: {failed}")
        self.state.repairs += 1
        return True

    def event(self, name: str, **fields: Any) -> None:
        self.log(name, controller=self.state.name, **fields)

    def _progress(self, event: Event) -> None:
        if event.message:
            self.log("controller.progress", controller=self.state.name,
                     address=str(event.address), phase=event.phase, line=event.message)


class ControllerHost:
    """Starts, runs and stops the controllers of one daemon."""

    def __init__(self, engine: Engine, log: EventLog,
                 registry: Registry[ControllerFactory] | None = None) -> None:
        self.engine = engine
        self.log = log
        self.registry = registry or controller_registry()
        self.stop = threading.Event()
        self.states: list[ControllerState] = []
        self.threads: list[threading.Thread] = []
        self.controllers: list[Controller] = []

    def start(self) -> None:
        configured: Mapping[str, Any] = self.engine.config.settings.get("controllers") or {}
        registry = self.registry
        for name in registry.names():
            settings = dict(configured.get(name) or {})
            if settings.get("enabled", True) is False:
                self.log("controller.disabled", controller=name)
                continue
            try:
                controller = registry.get(name)(settings)
            except Exception as exc:  # a broken plugin must not take the daemon down
                self.log("controller.load_failed", level="error", controller=name,
                         error=str(exc))
                continue
            self._spawn(controller, settings)

    def _spawn(self, controller: Controller, settings: Mapping[str, Any]) -> None:
        state = ControllerState(controller.name, controller.interval)
        ctx = DaemonControllerContext(self.engine, self.log, state, self.stop, settings)
        thread = threading.Thread(target=self._loop, args=(controller, ctx),
                                  name=f"controller-{controller.name}", daemon=True)
        self.states.append(state)
        self.threads.append(thread)
        self.controllers.append(controller)
        thread.start()
        self.log("controller.started", controller=controller.name,
                 interval_s=controller.interval)

    def _loop(self, controller: Controller, ctx: DaemonControllerContext) -> None:
        state = ctx.state
        delay = 0.0
        while not self.stop.wait(delay):
            try:
                controller.tick(ctx)
            except Exception as exc:  # logged and retried: controllers must keep running
                state.failures += 1
                state.last_error = str(exc)
                delay = _backoff(exc, controller.interval, state.failures)
                self.log("controller.failed", level="error", controller=state.name,
                         error=str(exc), retry_in_s=round(delay, 2))
            else:
                state.failures = 0
                state.last_error = None
                delay = controller.interval
            state.ticks += 1
            state.last_tick = datetime.now(UTC).isoformat(timespec="seconds")

    def shutdown(self, timeout: float = 10.0) -> None:
        self.stop.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for controller in self.controllers:  # then the work they handed off (see Controller)
            close = getattr(controller, "close", None)
            if close is None:
                continue
            try:
                close(max(0.0, deadline - time.monotonic()))
            except Exception as exc:  # the others still get their turn
                self.log("controller.close_failed", level="error", controller=controller.name,
                         error=str(exc))

    def status(self) -> list[dict[str, Any]]:
        return [s.as_dict() for s in self.states]


def _backoff(exc: BaseException, interval: float, failures: int) -> float:
    if isinstance(exc, TemporaryError) and exc.delay is not None:
        return float(exc.delay)
    return float(min(MAX_BACKOFF, interval * 2 ** min(failures, 10)))
