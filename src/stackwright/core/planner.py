"""The planner: ``plan_changes(declared, recorded, observed) -> changes``. Pure.

Resources are visited in dependency order so that each one's references can be resolved from
the planned outputs of what it depends on: the recorded outputs of an unchanged resource, the
predicted outputs of a changed one, or UNKNOWN ("known after apply").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from pydantic import ValidationError

from stackwright.core.graph import ResourceGraph
from stackwright.core.kinds import Kind
from stackwright.core.model import (
    Action,
    Address,
    Change,
    Declared,
    FieldDiff,
    Observed,
    Recorded,
    Status,
)
from stackwright.core.spec.refs import Expression, render
from stackwright.core.values import (
    SOURCES_KEY,
    UNKNOWN,
    contains_unknown,
    leaf_paths,
    touches_sensitive,
)
from stackwright.errors import PlanError

_INTERRUPTED = {
    Status.CREATING: "a previous apply was interrupted while creating it",
    Status.UPDATING: "a previous apply was interrupted while updating it",
    Status.DELETING: "a previous apply was interrupted while deleting it",
}


@dataclass(frozen=True)
class Refreshed:
    """A recorded resource with what was observed laid over it; ``gone`` if it vanished."""

    recorded: Recorded
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]
    gone: bool = False
    observed: bool = False


def refresh(recorded: Recorded, observed: Observed | None, was_read: bool) -> Refreshed:
    if not was_read:
        return Refreshed(recorded, recorded.inputs, recorded.outputs)
    if observed is None:
        return Refreshed(recorded, recorded.inputs, recorded.outputs, gone=True, observed=True)
    inputs = {**recorded.inputs, **observed.inputs}
    outputs = {**recorded.outputs, **observed.outputs}
    return Refreshed(recorded, inputs, outputs, observed=True)


def plan_changes(
    declared: Mapping[Address, Declared],
    recorded: Mapping[Address, Recorded],
    observed: Mapping[Address, Observed | None],
    kinds: Mapping[str, Kind],
    *,
    destroy: bool = False,
    sources: Mapping[Address, str] | None = None,
) -> list[Change]:
    """Every change, dependency order first, then deletes in reverse dependency order.

    ``sources`` holds the digest of the files a resource is built from (see
    ``Kind.source_digest``); it is planned as the ``$sources`` input."""
    refreshed = {a: refresh(r, observed.get(a), a in observed) for a, r in recorded.items()}
    desired = {} if destroy else declared
    planner = _Planner(desired, refreshed, kinds, sources or {})
    changes = [planner.plan_one(a) for a in planner.order()]
    changes.extend(_plan_deletes(desired, refreshed))
    return changes


def detect_drift(
    recorded: Mapping[Address, Recorded],
    observed: Mapping[Address, Observed | None],
    kinds: Mapping[str, Kind],
) -> list[Change]:
    """What differs between the record and the live object, for every resource read."""
    drift: list[Change] = []
    for address in sorted(observed):
        rec = recorded[address]
        if rec.status is not Status.READY:
            continue
        obs = observed[address]
        sens = rec.sensitive
        if obs is None:
            drift.append(Change(address, Action.DELETE, rec.inputs, None, sensitive=sens,
                                reason="it no longer exists", prior_id=rec.id))
            continue
        live = {k: obs.inputs[k] for k in rec.inputs if k in obs.inputs}
        diffs = _diff(dict(rec.inputs), {**rec.inputs, **live}, set(rec.inputs), sens)
        if diffs:
            drift.append(Change(address, Action.UPDATE, rec.inputs, {**rec.inputs, **live},
                                diffs=diffs, sensitive=sens, reason="changed outside Stackwright",
                                prior_id=rec.id))
    return drift


class _Planner:
    def __init__(
        self,
        desired: Mapping[Address, Declared],
        refreshed: Mapping[Address, Refreshed],
        kinds: Mapping[str, Kind],
        sources: Mapping[Address, str],
    ) -> None:
        self.desired = desired
        self.refreshed = refreshed
        self.kinds = kinds
        self.sources = sources
        self.planned_outputs: dict[Address, dict[str, Any]] = {}
        self.sensitive_outputs: dict[Address, frozenset[str]] = {}

    def order(self) -> list[Address]:
        graph = ResourceGraph.build({a: d.depends_on for a, d in self.desired.items()})
        try:
            return graph.order()
        except ValueError as exc:
            raise PlanError(str(exc)) from exc

    def plan_one(self, address: Address) -> Change:
        decl = self.desired[address]
        kind = self.kinds[address.kind]
        after, sensitive = self._resolve(decl, kind)
        if address in self.sources:
            after[SOURCES_KEY] = self.sources[address]
        ref = self.refreshed.get(address)
        change = self._decide(decl, kind, after, sensitive, ref)
        self._predict(address, kind, change, ref)
        return change

    def _resolve(self, decl: Declared, kind: Kind) -> tuple[dict[str, Any], frozenset[str]]:
        sensitive = set(decl.sensitive)
        for ref in decl.refs:
            if ref.target is not None and ref.output in self.sensitive_outputs.get(ref.target, ()):
                sensitive.add(ref.field)
        if not decl.refs:
            after = dict(decl.spec)
        else:
            after = render(dict(decl.spec), self._lookup, frozenset({"resource"}))
            if not contains_unknown(after):
                after = self._validate(decl, kind, after)
        sensitive |= kind.sensitive_fields(after)
        return after, frozenset(sensitive)

    def _lookup(self, expr: Expression) -> Any:
        assert expr.address is not None and expr.output is not None
        outputs = self.planned_outputs.get(expr.address)
        if outputs is None:
            raise PlanError(f"reference to {expr.address}, which is not in the spec")
        return outputs.get(expr.output, UNKNOWN)

    def _validate(self, decl: Declared, kind: Kind, after: dict[str, Any]) -> dict[str, Any]:
        try:
            return kind.normalize(kind.spec_model.model_validate(after))
        except ValidationError as exc:
            first = exc.errors()[0]
            path = ".".join(str(p) for p in first["loc"])
            where = f"{decl.location}: " if decl.location else ""
            raise PlanError(
                f"{where}{decl.address}: spec.{path}: {first['msg']} once references resolved",
                hint="check the outputs this field references",
            ) from exc

    def _decide(
        self,
        decl: Declared,
        kind: Kind,
        after: dict[str, Any],
        sensitive: frozenset[str],
        ref: Refreshed | None,
    ) -> Change:
        change = partial(Change, decl.address, after=after, template=decl.spec,
                         depends_on=decl.depends_on, sensitive=sensitive,
                         api_version=decl.api_version)
        if ref is None:
            return change(Action.CREATE)
        prior_id = ref.recorded.id
        if ref.gone:
            reason = _INTERRUPTED.get(ref.recorded.status, "it no longer exists")
            return change(Action.CREATE, reason=reason)
        before = dict(ref.inputs)
        keys = set(after) | set(ref.recorded.inputs)
        diffs = _diff(_with_defaults(kind, before, keys), _with_defaults(kind, after, keys), keys,
                      sensitive)
        changed = {d.path.split(".")[0] for d in diffs}
        forcing = kind.replace_fields(before, after, changed)
        if forcing:
            diffs = tuple(
                FieldDiff(d.path, d.before, d.after, d.path.split(".")[0] in forcing, d.sensitive)
                for d in diffs
            )
            reason = ", ".join(f"spec.{f}" for f in sorted(forcing)) + " forces replacement"
            return change(Action.REPLACE, before=before, diffs=diffs, reason=reason,
                          prior_id=prior_id)
        interrupted = _INTERRUPTED.get(ref.recorded.status)
        if diffs or interrupted:
            return change(Action.UPDATE, before=before, diffs=diffs, reason=interrupted,
                          prior_id=prior_id)
        return change(Action.NOOP, before=before, prior_id=prior_id)

    def _predict(self, address: Address, kind: Kind, change: Change, ref: Refreshed | None) -> None:
        self.sensitive_outputs[address] = kind.sensitive_outputs_for(change.after or {})
        if change.action is Action.NOOP and ref is not None:
            self.planned_outputs[address] = {**ref.outputs, "id": ref.recorded.id}
            return
        unknown: dict[str, Any] = {name: UNKNOWN for name in kind.all_outputs()}
        if change.action is Action.UPDATE and ref is not None:
            unknown["id"] = ref.recorded.id
        after = change.after or {}
        predicted = {} if contains_unknown(after) else kind.predict_outputs(after)
        self.planned_outputs[address] = {**unknown, **predicted}


def _with_defaults(kind: Kind, after: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    """``after`` plus the defaults of fields that were set before and are unset now."""
    missing = keys - set(after)
    if not missing or contains_unknown(after):
        return after
    try:
        full = kind.parse(after).model_dump(mode="json", by_alias=True)
    except ValidationError:
        return after
    return {**after, **{k: full.get(k) for k in missing}}


def _diff(
    before: dict[str, Any], after: dict[str, Any], keys: set[str], sensitive: frozenset[str]
) -> tuple[FieldDiff, ...]:
    diffs: list[FieldDiff] = []
    for key in sorted(keys):
        old, new = before.get(key), after.get(key)
        if _same(old, new):
            continue
        diffs.extend(_leaf_diffs(key, old, new, sensitive))
    return tuple(diffs)


def _same(old: Any, new: Any) -> bool:
    """Equal as JSON values (so 1 differs from True and from 1.0); UNKNOWN equals nothing."""
    if type(old) is not type(new) or old is UNKNOWN:
        return False
    if isinstance(old, dict):
        return old.keys() == new.keys() and all(_same(v, new[k]) for k, v in old.items())
    if isinstance(old, list):
        return len(old) == len(new) and all(_same(a, b) for a, b in zip(old, new, strict=True))
    return bool(old == new)


def _leaf_diffs(key: str, old: Any, new: Any, sensitive: frozenset[str]) -> list[FieldDiff]:
    if isinstance(old, dict) and isinstance(new, dict):
        olds, news = dict(leaf_paths(old, key)), dict(leaf_paths(new, key))
        out = []
        for path in sorted(set(olds) | set(news)):
            a, b = olds.get(path), news.get(path)
            if not _same(a, b):
                out.append(FieldDiff(path, a, b, sensitive=touches_sensitive(path, sensitive)))
        return out
    return [FieldDiff(key, old, new, sensitive=touches_sensitive(key, sensitive))]


def _plan_deletes(
    desired: Mapping[Address, Declared], refreshed: Mapping[Address, Refreshed]
) -> list[Change]:
    doomed = {a: r for a, r in refreshed.items() if a not in desired}
    graph = ResourceGraph.build({a: r.recorded.depends_on for a, r in doomed.items()})
    try:
        order = list(reversed(graph.order()))
    except ValueError:
        order = sorted(doomed)
    changes = []
    for address in order:
        ref = doomed[address]
        reason = "it was already gone" if ref.gone else None
        changes.append(Change(address, Action.DELETE, before=ref.inputs, after=None,
                              reason=reason, depends_on=ref.recorded.depends_on,
                              sensitive=ref.recorded.sensitive, prior_id=ref.recorded.id))
    return changes
