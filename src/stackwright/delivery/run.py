"""What canary and blue/green runs share: the record, the CLI's commands, waiting, ending.

A run keeps its :class:`~stackwright.delivery.records.RolloutRecord` current, takes the
commands another process leaves in it between its own steps (every ``POLL`` seconds while it
waits), and ends it once: succeeded, aborted or undone, each also in the audit log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from stackwright.core.kinds import DriverContext
from stackwright.core.state.records import AuditEvent
from stackwright.delivery.analysis import AnalysisRun, Measurement
from stackwright.delivery.records import RolloutRecord, RolloutStore, now_iso
from stackwright.errors import RolledBack
from stackwright.services.replicas import Replica
from stackwright.services.rollout import Rollout
from stackwright.services.traffic import Target

POLL = 0.25  # seconds between looks at the record while waiting


class RolloutAborted(RolledBack):
    """The new revision was taken out: all traffic is on the stable one again (so the engine
    keeps the Service's record from before the apply)."""


class Interrupt(Exception):  # noqa: N818 - control flow inside a run, never user-facing
    """A command or a verdict that ends the current wait."""

    def __init__(self, command: str, reason: str) -> None:
        super().__init__(reason)
        self.command, self.reason = command, reason


class RolloutRun:
    """One recorded rollout of a service's new revision (subclasses: the strategies)."""

    strategy = ""

    def __init__(self, ctx: DriverContext, rollout: Rollout, store: RolloutStore,
                 actor: str) -> None:
        self.ctx, self.rollout, self.store, self.actor = ctx, rollout, store, actor
        self.ident, self.spec = rollout.ident, rollout.spec
        self.record: RolloutRecord | None = None
        self.paused_by_human = False
        self.analysis: AnalysisRun | None = None
        self.measured: list[Measurement] = []

    @property
    def log(self) -> Callable[[str], None]:
        return self.rollout.log

    def begin(self, stable: str, steps: int) -> None:
        self.record = self.store.begin(
            self.ident.project, self.ident.env, self.ident.name, strategy=self.strategy,
            stable=stable, revision=self.rollout.revision, steps=steps, actor=self.actor)
        self.log(f"{self.strategy} rollout {self.record.id}: revision {stable} -> "
                 f"{self.rollout.revision}")
        name = self.ident.name
        self.ctx.underway(f"{self.strategy} rollout {self.record.id} of revision "
                          f"{self.rollout.revision} is running (`stackwright rollout status "
                          f"{name}`; `stackwright rollout abort {name}` ends it)")

    def note(self, event: str | None = None, **fields: Any) -> None:
        assert self.record is not None
        self.record = self.store.update(self.record.id, event=event, **fields)
        if event:
            self.log(event)

    def targets(self) -> list[Target]:
        with self.rollout.table.locked():
            return self.rollout.traffic.targets()

    def set_weights(self, weights: Mapping[str, int]) -> None:
        self.rollout.set_weights(weights)

    # commands and waiting

    def command(self) -> str | None:
        assert self.record is not None
        if self.ctx.cancelled.is_set():
            return "abort"
        return self.store.take_command(self.record.id)

    def wait(self, seconds: float | None, on_tick: Callable[[], object] = lambda: None,
             gate: bool = False) -> None:
        """Wait ``seconds`` (None: until promote), doing ``on_tick`` and taking commands;
        promote (or ``on_tick`` returning True) ends the wait, pause stops the clock until
        resume, abort/undo interrupt."""
        left = seconds
        last = time.monotonic()
        while True:
            if on_tick() is True:
                return
            if self._handle(self.command(), gate or left is None):
                return
            now = time.monotonic()
            if left is not None and not self.paused_by_human:
                left -= now - last
                if left <= 0:
                    return
            last = now
            time.sleep(POLL)

    def _handle(self, command: str | None, gated: bool) -> bool:
        """True when the wait is over (promote)."""
        if command is None:
            return False
        if command in ("abort", "undo"):
            reason = "cancelled" if self.ctx.cancelled.is_set() else f"{command} from the CLI"
            raise Interrupt(command, reason)
        if command == "promote":
            self.paused_by_human = False
            self.note("promoted from the CLI", state="progressing")
            return True
        if command == "pause" and not self.paused_by_human:
            self.paused_by_human = True
            self.note("paused from the CLI", state="paused", message="paused from the CLI")
        elif command == "resume" and self.paused_by_human:
            self.paused_by_human = False
            self.note("resumed from the CLI", state="paused" if gated else "progressing",
                      message="waiting for promote" if gated else "resumed")
        return False

    # analysis

    def check_analysis(self, what: str) -> bool:
        """Take the measurements that are due; raise Interrupt on a failed analysis, pause
        for a human on an inconclusive one; True once it succeeded."""
        if self.analysis is None:
            return False
        taken = self.analysis.tick()
        for m in taken:
            self.log(f"{what}: {m.describe()}")
        if taken:
            self.measured += taken
            self.note(measurements=[m.as_json() for m in self.measured[-200:]])
        verdict = self.analysis.verdict()
        if verdict == "Failed":
            failed = "; ".join(m.describe() for m in self.analysis.failed())
            raise Interrupt("abort", f"{what} failed: {failed}")
        if verdict == "Inconclusive" and not self.paused_by_human:
            last = self.analysis.inconclusive()[-1].describe()
            self.paused_by_human = True
            self.note(f"{what} inconclusive ({last}): paused until `stackwright rollout "
                      f"resume|promote|abort {self.ident.name}`", state="paused",
                      message=f"{what} inconclusive: {last}")
            self.analysis.resumed()
        return verdict == "Successful"

    # ending

    def finish(self, state: str, message: str, data: Mapping[str, Any] | None = None) -> None:
        self.note(f"rollout {state}: {message}", state=state, message=message,
                  finished_at=now_iso())
        assert self.record is not None
        self.store.audit(AuditEvent(
            actor=self.actor, action=f"rollout.{state}", project=self.ident.project,
            env=self.ident.env, data={"service": self.ident.name, "rollout": self.record.id,
                                      "strategy": self.strategy,
                                      "stable": self.record.stable,
                                      "revision": self.record.revision, "message": message,
                                      **(data or {})}))


def of_revision(replicas: Sequence[Replica], revision: str) -> list[Replica]:
    return [r for r in replicas if r.revision == revision]
