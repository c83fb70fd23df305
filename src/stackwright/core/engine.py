"""The engine: load the spec, read state, observe, plan, apply — the commands' common core.

One ``Engine`` serves one project directory and one environment. It opens the state store
lazily, so commands that need no state (validate, graph, schema) never touch it.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from stackwright.core.graph import ResourceGraph
from stackwright.core.kinds import DriverContext, Kind, get_kind, kind_registry
from stackwright.core.model import Action, Address, Change, Observed, Plan, Recorded, Status
from stackwright.core.planner import INTERRUPTED, RendersSources, detect_drift, plan_changes
from stackwright.errors import (
    ApplyError,
    PlanError,
    SpecError,
    SpecErrors,
    StackwrightError,
    StalePlanError,
    StateError,
    TargetError,
)
from stackwright.registry import Registry

if TYPE_CHECKING:
    from stackwright.core.executor import ApplyResult, Event
    from stackwright.core.spec.loader import Project, ProjectConfig
    from stackwright.core.state.crypto import Cipher
    from stackwright.core.state.store import Snapshot, StateStore

DEFAULT_STATE = ".stackwright/state.db"


def redact_url(url: str) -> str:
    """``url`` without the password of its user part (``scheme://user@host/db``)."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/@]*):[^@/]*@", r"\1@", url)


def actor() -> str:
    """Who is acting: ``user@host``, or ``STACKWRIGHT_ACTOR`` when set (the daemon sets it
    for a command it runs for a user it authenticated)."""
    named = os.environ.get("STACKWRIGHT_ACTOR")
    if named:
        return named
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class ApplyOutcome:
    plan: Plan
    result: ApplyResult
    serial: int


@dataclass(frozen=True)
class Suspended:
    """One resource :meth:`Engine.suspend` stopped (``error`` None) or failed to stop."""

    address: Address
    error: str | None = None


@dataclass(frozen=True)
class SuspendOutcome:
    stopped: tuple[Address, ...] = ()
    failed: Mapping[Address, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


class Engine:
    """Plan/apply/drift/import for one project directory and environment."""

    def __init__(
        self,
        root: Path,
        *,
        environment: str | None = None,
        state_url: str | None = None,
        variables: Mapping[str, str] | None = None,
        kinds: Registry[Kind] | None = None,
    ) -> None:
        self.root = root.resolve()
        self._environment = environment
        self._state_url = state_url
        self._variables = dict(variables or {})
        self.kinds = kinds if kinds is not None else kind_registry()

    # -- loading ---------------------------------------------------------------------------
    @cached_property
    def config(self) -> ProjectConfig:
        from stackwright.core.spec.loader import load_config

        return load_config(self.root)

    @cached_property
    def environment(self) -> str:
        from stackwright.core.spec.loader import resolve_environment

        return resolve_environment(self.config, self._environment)

    @cached_property
    def project(self) -> Project:
        from stackwright.core.spec.loader import load_project

        return load_project(
            self.root, kinds=self.kinds, environment=self.environment, variables=self._variables
        )

    @property
    def name(self) -> str:
        return self.config.name

    @cached_property
    def cipher(self) -> Cipher:
        from stackwright.core.state.crypto import load_state_key

        return load_state_key(self.name)

    @cached_property
    def state_url(self) -> str:
        url = self._state_url or os.environ.get("STACKWRIGHT_STATE") or self.config.state_url
        url = url or f"sqlite:///{DEFAULT_STATE}"
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url[len(prefix) :].startswith("/"):
            url = prefix + str(self.root / url[len(prefix) :])
        return url

    @cached_property
    def store(self) -> StateStore:
        from stackwright.core.state.store import StateStore

        return StateStore.open(self.state_url, cipher=self.cipher)

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()

    def snapshot(self) -> Snapshot:
        """The recorded state. Until the store is opened (commands that only read never open
        it), a SQLite file is read with the standard library, which starts much faster."""
        if "store" not in self.__dict__:
            from stackwright.core.state.sqlite_reader import read_snapshot, sqlite_path

            path = sqlite_path(self.state_url)
            fast = (read_snapshot(path, self.name, self.environment, lambda: self.cipher)
                    if path else None)
            if fast is not None:
                return fast
        return self.store.snapshot(self.name, self.environment)

    def kind_map(self, addresses: Any) -> dict[str, Kind]:
        names = dict.fromkeys(a.kind for a in addresses)  # in order, each once
        return {name: get_kind(self.kinds, name) for name in names}

    def driver_context(self, address: Address | None = None,
                       log: Callable[[str], None] | None = None,
                       cancelled: threading.Event | None = None) -> DriverContext:
        return DriverContext(
            project_dir=self.root,
            environment=self.environment,
            target=self.config.target,
            project=self.name,
            address=address,
            log=log or (lambda line: None),
            settings=self.config.settings,
            state_url=self.state_url,
            state_location=redact_url(self.state_url),
            cancelled=cancelled or threading.Event(),
        )

    # -- observing and planning ------------------------------------------------------------
    def observe(
        self, recorded: Mapping[Address, Recorded], kinds: Mapping[str, Kind], parallelism: int = 10
    ) -> dict[Address, Observed | None]:
        """Ask each resource's driver what is live (in parallel); None means gone."""
        ctx = self.driver_context()
        drivers = {name: kind.driver(self.config.target) for name, kind in kinds.items()}

        def read(rec: Recorded) -> tuple[Address, Observed | None]:
            try:
                return rec.address, drivers[rec.address.kind].read(ctx, rec)
            except TargetError as exc:
                raise TargetError(f"{rec.address}: cannot read: {exc.message}",
                                  hint=exc.hint) from exc

        inline = [r for r in recorded.values() if not drivers[r.address.kind].reads_io]
        slow = [r for r in recorded.values() if drivers[r.address.kind].reads_io]
        observed = dict(map(read, inline))
        if len(slow) < 4:
            observed.update(map(read, slow))
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
                observed.update(pool.map(read, slow))
        return observed

    def plan(self, *, destroy: bool = False, refresh: bool = True, parallelism: int = 10) -> Plan:
        snapshot = self.snapshot()
        plan = self._plan_from(snapshot, destroy=destroy, refresh=refresh,
                               parallelism=parallelism)
        return self.check(self._busy(plan))

    def check(self, plan: Plan, who: str | None = None) -> Plan:
        """``plan`` with the results of every registered plan check (``core.checks``)."""
        from stackwright.core.checks import PlanCheckInput, run_plan_checks

        found = run_plan_checks(PlanCheckInput(plan, self.project.declared, self.root,
                                               self.environment, who or actor()))
        return replace(plan, checks=found)

    def _busy(self, plan: Plan) -> Plan:
        """A plan made without the lock sees the resources another writer is changing at
        that moment (an apply, a daemon's repair) as left half-done: say who is changing
        them rather than that an apply was interrupted."""
        unfinished = set(INTERRUPTED.values())
        if not any(c.reason in unfinished for c in plan.changes):
            return plan
        from stackwright.core.state.locks import is_stale

        holder = self.store.current_lock(self.name, self.environment)
        if holder is None or is_stale(holder):
            return plan
        verbs = {text: status.value.lower() for status, text in INTERRUPTED.items()}
        changes = tuple(
            replace(c, reason=f"{holder.holder} is {verbs[c.reason]} it right now "
                              f"({holder.operation}, pid {holder.pid}, "
                              f"since {holder.created_at})")
            if c.reason in unfinished else c for c in plan.changes)
        return replace(plan, changes=changes)

    def _plan_from(
        self, snapshot: Snapshot, *, destroy: bool, refresh: bool, parallelism: int
    ) -> Plan:
        declared = self.project.declared
        recorded = snapshot.resources
        kinds = self.kind_map([*declared, *recorded])
        observed = self.observe(recorded, kinds, parallelism) if refresh else {}
        sources, texts = ({}, {}) if destroy else self.read_sources(declared, kinds)
        changes = plan_changes(declared, recorded, observed, kinds, destroy=destroy,
                               sources=sources, texts=texts)
        drift = detect_drift(recorded, observed, kinds) if refresh else []
        return Plan(
            project=self.name,
            environment=self.environment,
            changes=tuple(changes),
            state_serial=snapshot.generation,
            state_fingerprint=str(snapshot.generation),
            destroy=destroy,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            drift=tuple(drift),
        )

    def read_sources(
        self, declared: Mapping[Address, Any], kinds: Mapping[str, Kind]
    ) -> tuple[dict[Address, str], dict[Address, Mapping[str, str]]]:
        """The digests of the files resources are built from, and the texts of the files
        that ``RendersSources`` kinds render inputs from (reading files is I/O, so here)."""
        digests: dict[Address, str] = {}
        texts: dict[Address, Mapping[str, str]] = {}
        errors: list[SpecError] = []
        renders = {name for name, kind in kinds.items() if isinstance(kind, RendersSources)}
        for address, decl in declared.items():
            kind = kinds[address.kind]
            try:
                digest = kind.source_digest(decl.spec, self.root)
                if address.kind in renders:
                    found = cast(RendersSources, kind).read_sources(decl.spec, self.root)
                    if found is not None:
                        texts[address] = found
            except SpecError as exc:
                errors.append(SpecError(exc.message, location=decl.location,
                                        field=exc.field, hint=exc.hint))
                continue
            if digest is not None:
                digests[address] = digest
        if errors:
            raise SpecErrors(errors)
        return digests, texts

    def drift(self, parallelism: int = 10) -> list[Change]:
        snapshot = self.snapshot()
        kinds = self.kind_map(snapshot.resources)
        return detect_drift(snapshot.resources, self.observe(snapshot.resources, kinds,
                                                               parallelism), kinds)

    # -- applying --------------------------------------------------------------------------
    def apply(
        self,
        plan: Plan | None = None,
        *,
        destroy: bool = False,
        parallelism: int = 10,
        lock_timeout: float = 0.0,
        confirm: Callable[[Plan], bool] | None = None,
        on_event: Callable[[Event], None] = lambda e: None,
        refresh: bool = True,
        cancel: threading.Event | None = None,
        override: str | None = None,
        who: str | None = None,
    ) -> ApplyOutcome | None:
        """Plan (or take a saved plan), check, confirm, execute. None when not confirmed.
        Setting ``cancel`` stops starting actions; those in flight finish and are recorded.
        Plan checks run before confirmation: a mandatory denial raises ``PlanRefusedError``
        before anything changes; ``override`` (a reason) lets soft-mandatory ones through,
        recorded in the audit log. ``who`` is recorded as the actor (default: this process's
        ``user@host``), as the daemon's API does for the user it authenticated."""
        who = who or actor()
        operation = "destroy" if destroy or (plan is not None and plan.destroy) else "apply"
        with self.store.lock(self.name, self.environment, operation=operation,
                             timeout=lock_timeout, who=who) as held:
            snapshot = self.snapshot()
            if plan is None:
                plan = self._plan_from(snapshot, destroy=destroy, refresh=refresh,
                                       parallelism=parallelism)
            else:
                self._check_saved(plan, snapshot.generation)
            if not plan.has_changes:
                from stackwright.core.executor import ApplyResult

                return ApplyOutcome(plan, ApplyResult(), 0)
            from stackwright.core.checks import enforce

            plan = self.check(plan, who)
            overridden = enforce(plan, override)
            if confirm is not None and not confirm(plan):
                return None
            if overridden:
                self._audit_override(who, override or "", overridden)
            return self._execute(plan, snapshot, who, parallelism,
                                 self._telling_lock(held, operation, on_event), cancel)

    def _telling_lock(self, held: Any, operation: str, on_event: Callable[[Event], None]
                      ) -> Callable[[Event], None]:
        """``on_event``, and an action underway (a rollout) named in the lock's description."""
        def both(event: Event) -> None:
            if event.phase == "underway":
                self.store.relabel_lock(held, f"{operation}; {event.address}: {event.message}")
            on_event(event)

        return both

    def _audit_override(self, who: str, reason: str, results: tuple[Any, ...]) -> None:
        from stackwright.core.checks import result_to_json

        self.store.audit_append(self._audit_event(who, "plan.checks_overridden", {
            "reason": reason, "results": [result_to_json(r) for r in results]}))

    def _check_saved(self, plan: Plan, generation: int) -> None:
        if (plan.project, plan.environment) != (self.name, self.environment):
            raise PlanError(
                f"the plan is for {plan.project}/{plan.environment}, "
                f"not {self.name}/{self.environment}",
                hint="pass the --env the plan was made for",
            )
        if plan.state_serial != generation:
            raise StalePlanError(
                f"the saved plan is stale: state changed since it was made "
                f"(generation {plan.state_serial}, now {generation})",
                hint="run plan again",
            )

    def _execute(
        self,
        plan: Plan,
        snapshot: Snapshot,
        who: str,
        parallelism: int,
        on_event: Callable[[Event], None],
        cancel: threading.Event | None = None,
        operation: str | None = None,
    ) -> ApplyOutcome:
        """Execute ``plan``, recorded in history as ``operation`` (apply or destroy by
        default; a daemon's repair says ``repair``)."""
        # The executor is imported by the commands that apply, not by plan.
        from stackwright.core.executor import Event, ExecutionContext, execute

        operation = operation or ("destroy" if plan.destroy else "apply")
        serial = self.store.begin_run(self.name, self.environment, operation=operation, actor=who)
        recorder = _StoreRecorder(self, serial, who)
        ctx = ExecutionContext(
            kinds=self.kind_map(c.address for c in plan.changes),
            recorded=snapshot.resources,
            # The run's own cancel event, so a long action (a canary) can stop early.
            driver_context=lambda address: self.driver_context(
                address, lambda line: on_event(Event(address, Action.READ, "log", message=line)),
                ctx.cancelled,
            ),
            recorder=recorder,
            target=self.config.target,
            parallelism=parallelism,
            on_event=on_event,
        )
        if cancel is not None:
            ctx.cancelled = cancel
        result = execute(plan.changes, ctx)
        status = "ok" if result.ok else ("interrupted" if result.interrupted else "failed")
        summary = {**result.counts, "failed": len(result.failed), "skipped": len(result.skipped),
                   "elapsed_s": round(result.elapsed, 3)}
        self.store.finish_run(self.name, self.environment, serial, status=status,
                              summary=summary)
        return ApplyOutcome(plan, result, serial)

    # -- suspending -----------------------------------------------------------------------
    def suspend(
        self,
        *,
        lock_timeout: float = 0.0,
        parallelism: int = 10,
        on_event: Callable[[Suspended], None] = lambda e: None,
    ) -> SuspendOutcome:
        """Stop what runs for the recorded resources (each driver's ``suspend``), deleting
        nothing: dependents first, as destroy goes, each wave in parallel. Records are left
        as they are, so the next apply sees the stopped objects as drift and starts them. A
        driver's failure is reported with its address; the others are still stopped."""
        if self._no_state() or not self.snapshot().resources:
            return SuspendOutcome()
        who = actor()
        with self.store.lock(self.name, self.environment, operation="suspend",
                             timeout=lock_timeout, who=who):
            recorded = self.snapshot().resources
            outcome = self._suspend_all(recorded, parallelism, on_event)
            self.store.audit_append(self._audit_event(who, "resources.suspend", {
                "suspended": [str(a) for a in outcome.stopped],
                "failed": sorted(str(a) for a in outcome.failed)}))
        return outcome

    def _no_state(self) -> bool:
        """True when the state is a SQLite file that does not exist (nothing was applied);
        reading it through the store would create it."""
        from stackwright.core.state.sqlite_reader import sqlite_path

        path = sqlite_path(self.state_url)
        return path is not None and not path.is_file()

    def _suspend_all(self, recorded: Mapping[Address, Recorded], parallelism: int,
                     on_event: Callable[[Suspended], None]) -> SuspendOutcome:
        from concurrent.futures import ThreadPoolExecutor

        kinds = self.kind_map(recorded)
        drivers = {name: kind.driver(self.config.target) for name, kind in kinds.items()}

        def one(address: Address) -> Suspended | None:
            try:
                done = drivers[address.kind].suspend(self.driver_context(address),
                                                     recorded[address])
            except Exception as exc:  # reported with its address; the others go on
                text = str(exc) if isinstance(exc, StackwrightError) else (
                    f"{type(exc).__name__}: {exc}")
                return Suspended(address, text)
            return Suspended(address) if done else None

        stopped: list[Address] = []
        failed: dict[Address, str] = {}
        with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
            for wave in suspend_waves(recorded):
                for result in pool.map(one, wave):
                    if result is None:
                        continue
                    on_event(result)
                    if result.error is None:
                        stopped.append(result.address)
                    else:
                        failed[result.address] = result.error
        return SuspendOutcome(tuple(stopped), failed)

    # -- import, outputs, graph ------------------------------------------------------------
    def import_resource(self, address: Address, object_id: str, lock_timeout: float = 0.0
                        ) -> Recorded:
        """Adopt an existing object as ``address``, which the spec must declare."""
        declared = self.project.declared.get(address)
        if declared is None:
            raise PlanError(f"{address} is not declared in the spec",
                            hint="declare it first, then import the existing object into it")
        kind = get_kind(self.kinds, address.kind)
        who = actor()
        with self.store.lock(self.name, self.environment, operation="import",
                             timeout=lock_timeout, who=who):
            if address in self.snapshot().resources:
                raise StateError(f"{address} is already managed",
                                 hint="use `state rm` first to adopt another object")
            imported = kind.driver(self.config.target).import_(self.driver_context(), object_id)
            record = Recorded(
                address=address, id=imported.id, inputs=dict(imported.inputs),
                outputs=dict(imported.outputs), depends_on=declared.depends_on,
                sensitive=declared.sensitive | kind.sensitive_fields(imported.inputs),
                sensitive_outputs=kind.sensitive_outputs_for(imported.inputs),
            )
            serial = self.store.begin_run(self.name, self.environment, operation="import",
                                          actor=who)
            self.store.record(self.name, self.environment, record, serial=serial,
                              audit=self._audit_event(who, "resource.import",
                                                      {"address": str(address),
                                                       "id": imported.id}))
            self.store.finish_run(self.name, self.environment, serial, status="ok",
                                  summary={"import": 1})
            return record

    def outputs(self) -> dict[str, dict[str, Any]]:
        from stackwright.core.values import mask

        out: dict[str, dict[str, Any]] = {}
        for address, rec in sorted(self.snapshot().resources.items()):
            values = {"id": rec.id, **rec.outputs}
            out[str(address)] = mask(values, rec.sensitive_outputs)
        return out

    def graph(self) -> ResourceGraph:
        return ResourceGraph.build({a: d.depends_on for a, d in self.project.declared.items()})

    def _audit_event(self, who: str, action: str, data: dict[str, Any]) -> Any:
        from stackwright.core.state.store import AuditEvent

        return AuditEvent(actor=who, action=action, project=self.name, env=self.environment,
                          data=data)


class _StoreRecorder:
    """Commits each result to the state store, with its audit entry, as it happens."""

    def __init__(self, engine: Engine, serial: int, who: str) -> None:
        self.engine = engine
        self.serial = serial
        self.who = who

    def started(self, change: Change, status: Status) -> None:
        e = self.engine
        e.store.mark_started(e.name, e.environment, change.address, status, serial=self.serial,
                             depends_on=change.depends_on)

    def finished(self, change: Change, record: Recorded) -> None:
        e = self.engine
        e.store.record(e.name, e.environment, record, serial=self.serial,
                       audit=self._event(change, record.id))

    def removed(self, change: Change) -> None:
        e = self.engine
        e.store.remove(e.name, e.environment, change.address, serial=self.serial,
                       audit=self._event(change, change.prior_id))

    def restored(self, change: Change, record: Recorded, why: str) -> None:
        e = self.engine
        e.store.record(e.name, e.environment, record, serial=self.serial, audit=e._audit_event(
            self.who, "resource.restored", {"address": str(change.address), "id": record.id,
                                            "serial": self.serial, "why": why}))

    def _event(self, change: Change, object_id: str | None) -> Any:
        from stackwright.core.planfile import change_to_json

        doc = change_to_json(change)
        data = {"address": doc["address"], "action": doc["action"], "id": object_id,
                "serial": self.serial, "diffs": doc["diffs"]}
        return self.engine._audit_event(self.who, f"resource.{change.action.value}", data)


def suspend_waves(recorded: Mapping[Address, Recorded]) -> list[list[Address]]:
    """The recorded resources in waves, dependents before what they depend on: a resource is
    in the wave after the last of its dependents (pure; each wave sorted by address)."""
    graph = ResourceGraph.build({a: r.depends_on for a, r in recorded.items()})
    dependents = graph.dependents()
    wave: dict[Address, int] = {}
    for address in reversed(graph.order()):
        wave[address] = 1 + max((wave[d] for d in dependents[address]), default=-1)
    waves: list[list[Address]] = [[] for _ in range(max(wave.values(), default=-1) + 1)]
    for address in sorted(wave):
        waves[wave[address]].append(address)
    return waves


def require_changes_applied(outcome: ApplyOutcome) -> None:
    """Raise an ApplyError summarising failures, if any."""
    result = outcome.result
    if result.ok:
        return
    lines = [f"{a}: {msg}" for a, msg in sorted(result.failed.items())]
    if result.halted_by is not None:
        lines.append(f"halted: {result.halted_by} failed, so nothing more was started")
    lines += [f"rolled back to its record before this apply: {a}" for a in result.rolled_back]
    lines += [f"{a}: rollback failed: {m}" for a, m in sorted(result.rollback_failed.items())]
    if result.skipped:
        lines.append(f"{len(result.skipped)} dependent action(s) not started")
    if result.interrupted:
        lines.append("interrupted: in-flight actions finished and were recorded")
    raise ApplyError("apply failed:\n  " + "\n  ".join(lines),
                     hint="fix the cause and run apply again; finished work is recorded")


__all__ = ["ApplyOutcome", "Engine", "SuspendOutcome", "Suspended", "actor",
           "require_changes_applied", "suspend_waves"]
