"""The pipeline runner as a daemon component: it recovers runs a previous daemon left,
starts queued runs, polls push and schedule triggers, and removes artifacts past their
retention."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from stackwright.errors import StackwrightError

if TYPE_CHECKING:
    from stackwright.pipelines.runner import Dispatcher
    from stackwright.pipelines.service import PipelineService
    from stackwright.server.app import PlatformContext

TICK = 0.5
EXPIRE_EVERY = 10.0  # seconds between sweeps of artifacts past their retention


class PipelineRunner:
    name = "pipelines"

    def __init__(self, service: PipelineService, log: Any = None) -> None:
        self.service = service
        self.log = log
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.dispatcher: Dispatcher | None = None
        self.interrupted: list[str] = []
        self.last_error: str | None = None
        self._next_poll: dict[str, float] = {}
        self._next_expiry = 0.0
        self.expired = 0

    def start(self) -> None:
        from stackwright.pipelines.runner import Dispatcher
        from stackwright.pipelines.store import owner_id

        self.service.store  # noqa: B018 - migrate now, so a broken database fails start
        self.dispatcher = Dispatcher(self.service.store, self.service.runner_config(self._event),
                                     owner_id())
        self.interrupted = self.dispatcher.recover()
        for run_id in self.interrupted:
            self._remove_containers(run_id)
            self._event("pipeline.run.interrupted", {"run": run_id})
        self.thread = threading.Thread(target=self._loop, name="pipelines", daemon=True)
        self.thread.start()

    def _remove_containers(self, run_id: str) -> None:
        podman = self.service.runner_config().podman
        listed = podman.probe(["ps", "-aq", "--filter", f"label=dev.stackwright.pipeline-run="
                               f"{run_id}"])
        for cid in listed.stdout.split():
            podman.probe(["rm", "--force", "--time", "0", cid])

    def _event(self, name: str, data: Any) -> None:
        if self.log is not None:
            self.log(name, **dict(data))

    def _loop(self) -> None:
        assert self.dispatcher is not None
        while not self.stopping.wait(TICK):
            try:
                self.dispatcher.poll()
                self._poll_triggers()
                self._expire_artifacts()
                self.last_error = None
            except StackwrightError as exc:
                self.last_error = str(exc)
                self._event("pipeline.runner.error", {"error": str(exc)})

    def _poll_triggers(self) -> None:
        from stackwright.pipelines.triggers import current_definition, poll_push, poll_schedule

        now = time.monotonic()
        for name in self.service.declared(runnable=True):
            if now < self._next_poll.get(name, 0):
                continue
            definition = current_definition(self.service, name)
            interval = definition.on.push.interval if definition.on.push else 30.0
            self._next_poll[name] = now + min(interval, 30.0)
            poll_push(self.service, name)
            poll_schedule(self.service, name)

    def _expire_artifacts(self) -> None:
        from stackwright.pipelines.artifacts import expire_due

        if time.monotonic() < self._next_expiry:
            return
        self._next_expiry = time.monotonic() + EXPIRE_EVERY
        for gone in expire_due(self.service.store):
            self.expired += 1
            self._event("pipeline.artifact.expired", gone)

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=10)

    def status(self) -> dict[str, Any]:
        active = list(self.dispatcher.active) if self.dispatcher else []
        return {"state": "running" if self.thread and self.thread.is_alive() else "stopped",
                "active_runs": active, "interrupted_at_start": self.interrupted,
                "artifacts_expired": self.expired,
                "error": self.last_error}


def create(ctx: PlatformContext) -> PipelineRunner | None:
    """The runner, when the spec declares a Pipeline (None otherwise)."""
    from stackwright.pipelines.service import PipelineService

    service = PipelineService(ctx.engine)
    if not service.declared(runnable=True):
        return None
    return PipelineRunner(service, ctx.log)
