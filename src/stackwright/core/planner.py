"""The planner: ``plan_changes(declared, recorded, observed) -> changes``. Pure.

Resources are visited in dependency order so that each one's references can be resolved from
the planned outputs of what it depends on: the recorded outputs of an unchanged resource, the
predicted outputs of a changed one, or UNKNOWN ("known after apply").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

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
    spec_fields,
    touches_sensitive,
)
from stackwright.errors import PlanError, SpecError

INTERRUPTED = {
    Status.CREATING: "a previous apply was interrupted while creating it",
    Status.UPDATING: "a previous apply was interrupted while updating it",
    Status.DELETING: "a previous apply was interrupted while deleting it",
}


class Refreshed(NamedTuple):
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
    # Most drivers observe nothing for most resources: keep the recorded trees themselves,
    # which tells the planner nothing changed behind its back.
    inputs = {**recorded.inputs, **observed.inputs} if observed.inputs else recorded.inputs
    outputs = {**recorded.outputs, **observed.outputs} if observed.outputs else recorded.outputs
    return Refreshed(recorded, inputs, outputs, observed=True)


@runtime_checkable
class RendersSources(Protocol):
    """A kind with inputs rendered from files of the project (the ``File`` kind's template).

    The engine calls ``read_sources`` before planning (reading files is I/O): the files' texts
    by name, or None. The planner calls ``render_sources`` (pure) with the resolved inputs:
    the ``$``-keys to add to them (UNKNOWN while an input is unknown). A SpecError raised there
    names the source file and line; the planner adds the resource. Rendered keys are
    sensitive when any input is."""

    def read_sources(
        self, inputs: Mapping[str, Any], project_dir: Path
    ) -> Mapping[str, str] | None: ...

    def render_sources(
        self, inputs: Mapping[str, Any], texts: Mapping[str, str]
    ) -> dict[str, Any]: ...


def plan_changes(
    declared: Mapping[Address, Declared],
    recorded: Mapping[Address, Recorded],
    observed: Mapping[Address, Observed | None],
    kinds: Mapping[str, Kind],
    *,
    destroy: bool = False,
    sources: Mapping[Address, str] | None = None,
    texts: Mapping[Address, Mapping[str, str]] | None = None,
) -> list[Change]:
    """Every change, dependency order first, then deletes in reverse dependency order.

    ``sources`` holds the digest of the files a resource is built from (see
    ``Kind.source_digest``); it is planned as the ``$sources`` input. ``texts`` holds the
    files a ``RendersSources`` kind renders inputs from."""
    refreshed = {a: refresh(r, observed.get(a), a in observed) for a, r in recorded.items()}
    desired = {} if destroy else declared
    planner = _Planner(desired, refreshed, kinds, sources or {}, texts or {})
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
        if not obs.inputs:
            continue
        live = {k: obs.inputs[k] for k in rec.inputs if k in obs.inputs}
        # Only what was observed can differ: the other fields are the record's own values.
        diffs = _diff(rec.inputs, live, live.keys(), sens)
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
        texts: Mapping[Address, Mapping[str, str]],
    ) -> None:
        self.desired = desired
        self.refreshed = refreshed
        self.kinds = kinds
        self.sources = sources
        self.texts = texts
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
        ref = self.refreshed.get(address)
        after, sensitive, as_recorded = self._resolve(decl, kind, ref)
        if address in self.sources:
            after[SOURCES_KEY] = self.sources[address]
        if address in self.texts:
            sensitive = self._render_sources(decl, kind, after, sensitive)
        change = self._decide(decl, kind, after, sensitive, ref, as_recorded)
        self._predict(address, kind, change, ref)
        return change

    def _resolve(
        self, decl: Declared, kind: Kind, ref: Refreshed | None
    ) -> tuple[dict[str, Any], frozenset[str], bool]:
        """The spec with references resolved and validated, its sensitive paths, and whether
        its fields are exactly the recorded ones (so they need no second look)."""
        fed = [r.field for r in decl.refs
               if r.target is not None and r.output in self.sensitive_outputs.get(r.target, ())]
        sensitive = decl.sensitive.union(fed) if fed else decl.sensitive
        as_recorded = False
        if not decl.refs:
            after = dict(decl.spec)
        else:
            after, unknown = self._render_refs(decl)
            recorded = ref.recorded.inputs if ref is not None and not ref.gone else None
            if recorded is not None and not unknown and _same_spec(after, recorded):
                # Valid when it was applied, and validating a normalized spec again gives it
                # back: skip the model (the most expensive step of a no-change plan).
                after, as_recorded = spec_fields(recorded), True
            elif not unknown:
                after = self._validate(decl, kind, after)
        return after, frozenset(sensitive | kind.sensitive_fields(after)), as_recorded

    def _render_refs(self, decl: Declared) -> tuple[dict[str, Any], bool]:
        """A copy of the spec with its references rendered, and whether any is unknown. Only
        the top-level fields holding a reference are rendered (and copied)."""
        spec = decl.spec
        tops = {r.field.partition(".")[0] for r in decl.refs}
        if not tops <= spec.keys() or any("." in k for k in spec):
            after = render(dict(spec), self._lookup, _RESOURCE_SCOPE)
            return after, contains_unknown(after)
        after = dict(spec)
        unknown = False
        for top in tops:
            value = after[top] = render(spec[top], self._lookup, _RESOURCE_SCOPE)
            unknown = unknown or contains_unknown(value)
        return after, unknown

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

    def _render_sources(
        self, decl: Declared, kind: Kind, after: dict[str, Any], sensitive: frozenset[str]
    ) -> frozenset[str]:
        """Adds the keys rendered from the resource's source files to ``after``; returns the
        sensitive paths, with the rendered keys when any input is sensitive."""
        assert isinstance(kind, RendersSources)
        try:
            rendered = kind.render_sources(after, self.texts[decl.address])
        except SpecError as exc:
            raise SpecError(f"{decl.address}: {exc.message}", location=decl.location,
                            field=exc.field, hint=exc.hint) from exc
        after.update(rendered)
        return sensitive | frozenset(rendered) if sensitive else sensitive

    def _decide(
        self,
        decl: Declared,
        kind: Kind,
        after: dict[str, Any],
        sensitive: frozenset[str],
        ref: Refreshed | None,
        as_recorded: bool = False,
    ) -> Change:
        change = partial(Change, decl.address, after=after, template=decl.spec,
                         depends_on=decl.depends_on, sensitive=sensitive,
                         api_version=decl.api_version)
        if ref is None:
            return change(Action.CREATE)
        prior_id = ref.recorded.id
        if ref.gone:
            reason = INTERRUPTED.get(ref.recorded.status, "it no longer exists")
            return change(Action.CREATE, reason=reason)
        before = dict(ref.inputs)
        diffs = _changes(kind, before, after, ref, sensitive,
                         as_recorded and ref.inputs is ref.recorded.inputs)
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
        interrupted = INTERRUPTED.get(ref.recorded.status)
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


_RESOURCE_SCOPE = frozenset({"resource"})


def _changes(
    kind: Kind,
    before: dict[str, Any],
    after: dict[str, Any],
    ref: Refreshed,
    sensitive: frozenset[str],
    spec_unchanged: bool,
) -> tuple[FieldDiff, ...]:
    """The field diffs between the refreshed inputs and the desired ones. With
    ``spec_unchanged`` (the spec fields are the record's, and nothing was observed over
    them), only the engine's ``$`` keys can differ."""
    recorded = ref.recorded.inputs
    if spec_unchanged:
        keys = {k for k in after if k[:1] == "$"} | {k for k in recorded if k[:1] == "$"}
        return _diff(before, after, keys, sensitive)
    keys = set(after) | set(recorded)
    return _diff(_with_defaults(kind, before, keys), _with_defaults(kind, after, keys), keys,
                 sensitive)


def _same_spec(after: Mapping[str, Any], recorded: Mapping[str, Any]) -> bool:
    """Whether ``after`` (spec fields only) holds exactly the recorded spec fields."""
    count = 0
    for key, value in recorded.items():
        if key[:1] == "$":
            continue
        count += 1
        if key not in after or not _same(after[key], value):
            return False
    return count == len(after)


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
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    keys: Iterable[str],
    sensitive: frozenset[str],
) -> tuple[FieldDiff, ...]:
    changed = [key for key in keys if not _same(before.get(key), after.get(key))]
    diffs: list[FieldDiff] = []
    for key in sorted(changed):
        diffs.extend(_leaf_diffs(key, before.get(key), after.get(key), sensitive))
    return tuple(diffs)


def _same(old: Any, new: Any) -> bool:
    """Equal as JSON values (so 1 differs from True and from 1.0); UNKNOWN equals nothing.
    (Loops rather than all(): it runs over every field of every resource of a plan.)"""
    kind = type(old)
    if kind is not type(new) or old is UNKNOWN:
        return False
    if kind is str:
        return bool(old == new)
    if isinstance(old, dict):
        if old.keys() != new.keys():
            return False
        for key, value in old.items():
            if not _same(value, new[key]):
                return False
        return True
    if isinstance(old, list):
        if len(old) != len(new):
            return False
        for a, b in zip(old, new, strict=True):
            if not _same(a, b):
                return False
        return True
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
