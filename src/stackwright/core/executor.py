"""The executor: runs a plan's changes in dependency order with bounded parallelism.

The apply graph is built from the plan alone (never from the spec), so apply cannot do what
was not planned. Each result is handed to the recorder as soon as its action finishes; a
failure stops the failed resource's dependents from starting while independent work and
in-flight actions finish. A failed change of a ``transactional`` kind halts the whole apply
instead, and the transactional updates already done in it are rolled back (newest first) to
the records from before the apply; a driver that took its own action back
(:class:`~stackwright.errors.RolledBack`) leaves its prior record in place.
"""

from __future__ import annotations

import heapq
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from pydantic import ValidationError

from stackwright.core.graph import ResourceGraph
from stackwright.core.kinds import DriverContext, Kind
from stackwright.core.model import Action, Address, Applied, Change, Recorded, Status
from stackwright.core.spec.refs import Expression, render
from stackwright.core.values import (
    SOURCES_KEY,
    UNKNOWN,
    canonical_json,
    contains_unknown,
    spec_fields,
)
from stackwright.errors import ApplyError, RolledBack, StackwrightError


@dataclass(frozen=True)
class Event:
    """Progress of one resource: ``phase`` is start, done, failed, skipped or log."""

    address: Address
    action: Action
    phase: str
    elapsed: float = 0.0
    message: str = ""
    object_id: str | None = None


class Recorder(Protocol):
    """Where results go, each one durable before the next action that depends on it."""

    def started(self, change: Change, status: Status) -> None: ...

    def finished(self, change: Change, record: Recorded) -> None: ...

    def removed(self, change: Change) -> None: ...

    def restored(self, change: Change, record: Recorded, why: str) -> None:
        """``record`` (the one from before the apply, or a rollback's) is READY again."""


@dataclass
class ApplyResult:
    done: list[Address] = field(default_factory=list)
    failed: dict[Address, str] = field(default_factory=dict)
    skipped: list[Address] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    interrupted: bool = False
    halted_by: Address | None = None  # a transactional change that failed
    rolled_back: list[Address] = field(default_factory=list)
    rollback_failed: dict[Address, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped and not self.interrupted


@dataclass
class ExecutionContext:
    """What the executor needs besides the changes."""

    kinds: Mapping[str, Kind]
    recorded: Mapping[Address, Recorded]
    driver_context: Callable[[Address], DriverContext]
    recorder: Recorder
    target: str = "local"
    parallelism: int = 10
    on_event: Callable[[Event], None] = lambda event: None
    cancelled: threading.Event = field(default_factory=threading.Event)


def apply_graph(changes: Sequence[Change], recorded: Mapping[Address, Recorded]) -> ResourceGraph:
    """Dependencies between the plan's actions (no-ops are not nodes).

    Hard edges: a create/update/replace waits for what it depends on now; a delete (or the
    delete half of a replace) waits for the deletes of what depended on it. Soft edges, kept
    only where they make no cycle: a delete waits for the updates of resources that depended on
    it and stay, so that they let go of it first.
    """
    nodes = {c.address: c for c in changes if c.action is not Action.NOOP}
    edges: dict[Address, set[Address]] = {a: set() for a in nodes}
    former_dependents: dict[Address, list[Address]] = {}
    for other, rec in recorded.items():
        if other in nodes:
            for dep in rec.depends_on:
                former_dependents.setdefault(dep, []).append(other)
    soft: list[tuple[Address, Address]] = []
    for address, change in nodes.items():
        if change.action is not Action.DELETE:
            edges[address] |= {
                d for d in change.depends_on if d in nodes and nodes[d].action is not Action.DELETE
            }
        if change.action not in (Action.DELETE, Action.REPLACE):
            continue
        for other in former_dependents.get(address, ()):
            if other == address:
                continue
            if nodes[other].action is Action.DELETE:
                edges[address].add(other)
            elif change.action is Action.DELETE:
                soft.append((address, other))
    for waiter, waited in sorted(soft):
        if not _reaches(edges, waited, waiter):
            edges[waiter].add(waited)
    return ResourceGraph.build(edges)


def _reaches(edges: Mapping[Address, set[Address]], start: Address, goal: Address) -> bool:
    stack, seen = [start], {start}
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        for dep in edges.get(node, ()):
            if dep not in seen:
                seen.add(dep)
                stack.append(dep)
    return False


def execute(changes: Sequence[Change], ctx: ExecutionContext) -> ApplyResult:
    """Run every change; never raises for a failed action (see ``ApplyResult.failed``)."""
    return _Run(changes, ctx).run()


class _Run:
    def __init__(self, changes: Sequence[Change], ctx: ExecutionContext) -> None:
        self.ctx = ctx
        self.changes = {c.address: c for c in changes if c.action is not Action.NOOP}
        self.rank = {c.address: i for i, c in enumerate(changes)}
        self.graph = apply_graph(changes, ctx.recorded)
        self.graph.order()  # raises on a cycle before anything runs
        self.outputs: dict[Address, dict[str, Any]] = {
            a: {**r.outputs, "id": r.id} for a, r in ctx.recorded.items()
        }
        self.lock = threading.Lock()
        self.result = ApplyResult()
        self.applied: dict[Address, Recorded] = {}  # records written by this run
        # What the drivers see as ``cancelled``: the caller's cancel, or a halt (which must
        # not look like the caller's cancel to whoever passed that event in).
        self.stop = threading.Event()

    def run(self) -> ApplyResult:
        started = time.monotonic()
        waiting = {a: len(d) for a, d in self.graph.dependencies.items()}
        dependents = self.graph.dependents()
        ready = [(self.rank[a], a) for a, n in waiting.items() if n == 0]
        heapq.heapify(ready)
        results: queue.Queue[tuple[Address, BaseException | None]] = queue.Queue()
        in_flight = 0
        workers = max(1, self.ctx.parallelism)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apply") as pool:
            while ready or in_flight:
                while ready and in_flight < workers and not self._stopping():
                    _, address = heapq.heappop(ready)
                    pool.submit(self._work, address, results)
                    in_flight += 1
                if not in_flight:
                    break
                address, error = self._next(results)
                in_flight -= 1
                if error is None:
                    self.result.done.append(address)
                    for child in dependents[address]:
                        waiting[child] -= 1
                        if waiting[child] == 0:
                            heapq.heappush(ready, (self.rank[child], child))
                else:
                    self.result.failed[address] = _describe(error)
                    self._skip_dependents(address, dependents)
                    self._halt_on(address)
        halted = self.result.halted_by is not None
        self.result.interrupted = self.ctx.cancelled.is_set()
        done_or_failed = set(self.result.done) | set(self.result.failed) | set(self.result.skipped)
        if self._stopping():
            self.result.skipped.extend(a for a in self.changes if a not in done_or_failed)
        if halted:
            self._roll_back()
        self.result.counts = _count(self.changes, self.result.done)
        self.result.elapsed = time.monotonic() - started
        return self.result

    def _next(
        self, results: queue.Queue[tuple[Address, BaseException | None]]
    ) -> tuple[Address, BaseException | None]:
        while True:
            try:
                return results.get(timeout=0.2)
            except queue.Empty:
                self._stopping()
            except KeyboardInterrupt:
                self.ctx.cancelled.set()

    def _stopping(self) -> bool:
        if self.ctx.cancelled.is_set():
            self.stop.set()
        return self.stop.is_set()

    def _halt_on(self, address: Address) -> None:
        """A transactional kind's failure stops the apply: nothing more starts, in-flight
        actions are asked to stop (a running rollout aborts)."""
        if self.result.halted_by is None and self.ctx.kinds[address.kind].transactional:
            self.result.halted_by = address
            self.stop.set()

    def _roll_back(self) -> None:
        """Take back the transactional updates done in this apply, newest first."""
        failed = self.result.halted_by
        for address in reversed(self.result.done):
            change, kind = self.changes[address], self.ctx.kinds[address.kind]
            prior, current = self.ctx.recorded.get(address), self.applied.get(address)
            if (change.action is not Action.UPDATE or not kind.transactional or prior is None
                    or current is None):
                continue
            self.ctx.on_event(Event(address, change.action, "log",
                                    message=f"rolling back: {failed} failed"))
            try:
                self._restore(change, kind, prior, current, f"{failed} failed")
            except Exception as exc:  # reported; the other rollbacks still run
                self.result.rollback_failed[address] = _describe(exc)
                self.ctx.on_event(Event(address, change.action, "failed",
                                        message=f"rollback failed: {_describe(exc)}"))
                continue
            self.result.rolled_back.append(address)

    def _restore(self, change: Change, kind: Kind, prior: Recorded, current: Recorded,
                 why: str) -> None:
        dctx = replace(self.ctx.driver_context(change.address), rollback=True,
                       cancelled=threading.Event())
        applied = kind.driver(self.ctx.target).update(dctx, current, spec_fields(prior.inputs))
        record = replace(prior, id=applied.id, outputs=dict(applied.outputs),
                         status=Status.READY)
        self.ctx.recorder.restored(change, record, f"rolled back: {why}")

    def _skip_dependents(self, address: Address, dependents: dict[Address, list[Address]]) -> None:
        stack = list(dependents[address])
        seen: set[Address] = set()
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            change = self.changes[node]
            self.result.skipped.append(node)
            self.ctx.on_event(Event(node, change.action, "skipped",
                                    message=f"{address} failed"))
            stack.extend(dependents[node])

    def _work(
        self, address: Address, results: queue.Queue[tuple[Address, BaseException | None]]
    ) -> None:
        change = self.changes[address]
        self.ctx.on_event(Event(address, change.action, "start"))
        t0 = time.monotonic()
        try:
            object_id = self._act(change)
        except BaseException as exc:  # reported, never lost: the main loop records it
            self.ctx.on_event(Event(address, change.action, "failed", time.monotonic() - t0,
                                    _describe(exc)))
            results.put((address, exc))
            return
        self.ctx.on_event(Event(address, change.action, "done", time.monotonic() - t0,
                                object_id=object_id))
        results.put((address, None))

    def _act(self, change: Change) -> str | None:
        kind = self.ctx.kinds[change.address.kind]
        driver = kind.driver(self.ctx.target)
        dctx = replace(self.ctx.driver_context(change.address), cancelled=self.stop,
                       underway=lambda what: self.ctx.on_event(Event(
                           change.address, change.action, "underway", message=what)))
        prior = self.ctx.recorded.get(change.address)
        recorder = self.ctx.recorder
        if change.action in (Action.DELETE, Action.REPLACE) and prior is not None:
            recorder.started(change, Status.DELETING)
            driver.delete(dctx, prior)
            if change.action is Action.DELETE:
                recorder.removed(change)
                return prior.id
        inputs = self._inputs(change, kind)
        if change.action is Action.UPDATE and prior is not None:
            recorder.started(change, Status.UPDATING)
            try:
                applied = driver.update(dctx, prior, spec_fields(inputs))
            except RolledBack as exc:
                recorder.restored(change, replace(prior, status=Status.READY), str(exc))
                raise
        else:
            recorder.started(change, Status.CREATING)
            applied = driver.create(dctx, spec_fields(inputs))
        self._finish(change, kind, inputs, applied)
        return applied.id

    def _finish(
        self, change: Change, kind: Kind, inputs: dict[str, Any], applied: Applied
    ) -> None:
        record = Recorded(
            address=change.address,
            id=applied.id,
            inputs=inputs,
            outputs=dict(applied.outputs),
            status=Status.READY,
            depends_on=change.depends_on,
            sensitive=change.sensitive | kind.sensitive_fields(inputs),
            sensitive_outputs=kind.sensitive_outputs_for(inputs),
        )
        self.ctx.recorder.finished(change, record)
        with self.lock:
            self.outputs[change.address] = {**applied.outputs, "id": applied.id}
            self.applied[change.address] = record

    def _inputs(self, change: Change, kind: Kind) -> dict[str, Any]:
        planned = dict(change.after or {})
        if not contains_unknown(planned):
            return planned
        template = dict(change.template or {})
        with self.lock:
            resolved = render(template, self._lookup, frozenset({"resource"}))
        try:
            inputs = kind.normalize(kind.spec_model.model_validate(resolved))
        except ValidationError as exc:
            raise ApplyError(f"{change.address}: invalid once references resolved: {exc}") from exc
        if SOURCES_KEY in planned:
            inputs[SOURCES_KEY] = planned[SOURCES_KEY]
        _check_consistent(change, kind, planned, inputs)
        return inputs

    def _lookup(self, expr: Expression) -> Any:
        assert expr.address is not None and expr.output is not None
        value = self.outputs.get(expr.address, {}).get(expr.output, UNKNOWN)
        if value is UNKNOWN:
            raise ApplyError(f"{expr.address}.{expr.output} is still unknown during apply")
        return value


def _check_consistent(
    change: Change, kind: Kind, planned: dict[str, Any], actual: dict[str, Any]
) -> None:
    """The plan's known values, with its unknowns filled in from what apply resolved, must
    validate to exactly what apply is about to use (so 60 planned is 60.0 applied)."""
    filled = _fill_unknowns(planned, actual)
    try:
        expected = kind.normalize(kind.parse(filled))
    except ValidationError as exc:
        raise ApplyError(f"{change.address}: the planned inputs no longer validate: {exc}",
                         hint="plan again") from exc
    for key, value in spec_fields(actual).items():
        if canonical_json(expected.get(key)) != canonical_json(value):
            raise ApplyError(
                f"{change.address}: spec.{key} differs from the plan once references resolved",
                hint="the inputs changed since the plan was made; plan again",
            )


def _fill_unknowns(planned: Any, actual: Any) -> Any:
    if planned is UNKNOWN:
        return actual
    if isinstance(planned, dict) and isinstance(actual, dict):
        return {k: _fill_unknowns(v, actual.get(k)) for k, v in planned.items()}
    if isinstance(planned, list) and isinstance(actual, list) and len(planned) == len(actual):
        return [_fill_unknowns(p, a) for p, a in zip(planned, actual, strict=True)]
    return planned


def _describe(error: BaseException) -> str:
    if isinstance(error, StackwrightError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _count(changes: Mapping[Address, Change], done: list[Address]) -> dict[str, int]:
    counts = {a.value: 0 for a in (Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE)}
    for address in done:
        counts[changes[address].action.value] += 1
    return counts
