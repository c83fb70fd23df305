"""The values the engine passes between its phases: addresses, declared resources, recorded
and observed state, changes and plans. All frozen; the planner is a pure function of them."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from stackwright.errors import Location, PlanError


class Address(NamedTuple):
    """``Kind/name``: how a resource is named in state, plans and references.

    A named tuple rather than a dataclass: addresses are dict keys everywhere, and a tuple's
    hash and comparisons run in C (a 5,000-resource plan hashes them a quarter-million times).
    """

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"

    def __repr__(self) -> str:
        return f"Address({self.kind!r}, {self.name!r})"

    @classmethod
    def parse(cls, text: str) -> Address:
        kind, sep, name = text.partition("/")
        if not sep or not kind or not name:
            raise PlanError(f"not a resource address: {text!r}", hint="write it as Kind/name")
        return cls(kind, name)


@dataclass(frozen=True)
class Ref:
    """One ``${{ ... }}`` reference found in a declared spec.

    ``target`` is the resource referenced (None for ``var.*``); ``output`` the output name;
    ``field`` the dotted spec path where the reference stands.
    """

    expression: str
    field: str
    target: Address | None = None
    output: str | None = None


@dataclass(frozen=True)
class Declared:
    """A resource as the spec declares it, after loading and validation.

    ``spec`` has variables already substituted; references to other resources' outputs are
    still ``${{ Kind.name.output }}`` strings, resolved by the planner.
    """

    address: Address
    api_version: str
    spec: Mapping[str, Any]
    labels: Mapping[str, str] = field(default_factory=dict)
    depends_on: tuple[Address, ...] = ()
    refs: tuple[Ref, ...] = ()
    location: Location | None = None
    sensitive: frozenset[str] = frozenset()


class Status(enum.StrEnum):
    """Where a recorded resource is in its life; anything but READY means an action was
    started and its end was never recorded (a crash), to be reconciled on the next run."""

    READY = "ready"
    CREATING = "creating"
    UPDATING = "updating"
    DELETING = "deleting"


@dataclass(frozen=True)
class Recorded:
    """A resource as the state store last recorded it (sensitive values decrypted)."""

    address: Address
    id: str | None
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]
    status: Status = Status.READY
    depends_on: tuple[Address, ...] = ()
    sensitive: frozenset[str] = frozenset()
    sensitive_outputs: frozenset[str] = frozenset()
    serial: int = 0


@dataclass(frozen=True)
class Observed:
    """What a driver read from the live object.

    ``inputs`` holds the spec fields the driver can see (a subset of the spec; fields it cannot
    see are absent and taken from the record); ``outputs`` the live outputs.
    """

    inputs: Mapping[str, Any] = field(default_factory=dict)
    outputs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Applied:
    """The result of a create or update: the object's id and its outputs."""

    id: str
    outputs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Imported:
    """An existing object adopted by ``import``: the spec fields read from it, and outputs."""

    id: str
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any] = field(default_factory=dict)


class Action(enum.StrEnum):
    NOOP = "no-op"
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    READ = "read"


@dataclass(frozen=True)
class FieldDiff:
    """One changed spec field: dotted path, before and after (may hold UNKNOWN)."""

    path: str
    before: Any
    after: Any
    forces_replacement: bool = False
    sensitive: bool = False


@dataclass(frozen=True)
class Change:
    """What the plan will do to one resource, and why."""

    address: Address
    action: Action
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    template: Mapping[str, Any] | None = None
    diffs: tuple[FieldDiff, ...] = ()
    reason: str | None = None
    depends_on: tuple[Address, ...] = ()
    sensitive: frozenset[str] = frozenset()
    prior_id: str | None = None
    api_version: str = "stackwright.dev/v1"


class Enforcement(enum.StrEnum):
    """How a plan check's denial binds, as Sentinel's levels: ``advisory`` only warns,
    ``soft-mandatory`` refuses apply unless overridden with a reason, ``hard-mandatory``
    always refuses."""

    ADVISORY = "advisory"
    SOFT_MANDATORY = "soft-mandatory"
    HARD_MANDATORY = "hard-mandatory"


@dataclass(frozen=True)
class CheckResult:
    """One finding of a plan check (``stackwright.plan_checks``): a denial or a warning.

    ``check`` names the plan check, ``source`` what inside it found this (a policy and its
    rule), ``address`` the resource it is about when it is about one."""

    check: str
    source: str
    level: str  # "deny" or "warn"
    message: str
    enforcement: Enforcement = Enforcement.ADVISORY
    address: str | None = None

    @property
    def refuses(self) -> bool:
        """A denial that stops apply unless overridden (soft) or always (hard)."""
        return self.level == "deny" and self.enforcement is not Enforcement.ADVISORY


@dataclass(frozen=True)
class Plan:
    """A whole plan: the ordered changes, and what it was made against."""

    project: str
    environment: str
    changes: tuple[Change, ...]
    state_serial: int
    state_fingerprint: str
    destroy: bool = False
    created_at: str = ""
    drift: tuple[Change, ...] = ()
    checks: tuple[CheckResult, ...] = ()

    def counts(self) -> dict[str, int]:
        out = {a.value: 0 for a in (Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE)}
        for c in self.changes:
            if c.action.value in out:
                out[c.action.value] += 1
        return out

    @property
    def has_changes(self) -> bool:
        return any(c.action is not Action.NOOP for c in self.changes)
