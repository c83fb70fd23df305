"""How a domain plugs a kind of resource into the engine.

A kind is a :class:`Kind` (its schema, which fields force replacement, which are sensitive,
its outputs) plus one :class:`Driver` per target that observes and changes the real thing.
Domains register kinds in the ``stackwright.kinds`` entry-point group; the engine loads only
the kinds a spec uses.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from stackwright.core.model import Address, Applied, Declared, Imported, Observed, Recorded
from stackwright.errors import RegistryError, SpecError
from stackwright.registry import Registry, did_you_mean

API_VERSION = "stackwright.dev/v1"


class SpecModel(BaseModel):
    """Base of every kind's spec: unknown fields are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


@dataclass
class DriverContext:
    """What a driver may use: where the project is, the environment, a progress sink.

    ``project`` is the project's name and ``address`` the resource being changed (for naming
    and labelling objects; None while observing, where the record names it); ``log`` takes one
    line of progress (build output, command output) for the resource being
    worked on; ``cancelled`` is set when the run is being stopped; ``state_url`` is the state
    database, for a domain that keeps records of its own there (``core.state.domains``).
    ``state_location`` is where the project's state lives (the state URL, any password left
    out): the objects of two checkouts of one project are told apart by it (empty: the
    default SQLite file in ``project_dir``). ``rollback`` is set when the engine takes back
    a change of this apply (another transactional change failed): do it the quick, plain way.
    ``underway(what)`` is called by a driver whose action goes on for long by itself (a
    rollout has begun and is recorded): an ``apply --no-wait`` returns there, and ``what``
    (how to follow or end it) is added to the writer lock's description, so another apply
    refused by the lock says what it waits for.
    """

    project_dir: Path
    environment: str
    target: str = "local"
    project: str = ""
    address: Address | None = None
    log: Callable[[str], None] = lambda line: None
    cancelled: threading.Event = field(default_factory=threading.Event)
    settings: Mapping[str, Any] = field(default_factory=dict)
    state_url: str = ""
    state_location: str = ""
    rollback: bool = False
    underway: Callable[[str], None] = lambda what: None

    def resolve_path(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else self.project_dir / p


class Driver(abc.ABC):
    """Observes and changes one kind of object on one target.

    ``read`` is observation only. ``create``/``update``/``delete`` raise
    :class:`~stackwright.errors.TargetError` subclasses on failure. A driver whose ``read``
    does no I/O sets ``reads_io = False`` and is read inline instead of in a thread pool.
    """

    reads_io: ClassVar[bool] = True

    @abc.abstractmethod
    def read(self, ctx: DriverContext, recorded: Recorded) -> Observed | None:
        """The live object, or None when it no longer exists."""

    @abc.abstractmethod
    def create(self, ctx: DriverContext, inputs: Mapping[str, Any]) -> Applied: ...

    @abc.abstractmethod
    def update(
        self, ctx: DriverContext, recorded: Recorded, inputs: Mapping[str, Any]
    ) -> Applied: ...

    @abc.abstractmethod
    def delete(self, ctx: DriverContext, recorded: Recorded) -> None: ...

    def import_(self, ctx: DriverContext, object_id: str) -> Imported:
        from stackwright.errors import PermanentError

        raise PermanentError(f"{type(self).__name__} cannot import existing objects")

    def suspend(self, ctx: DriverContext, recorded: Recorded) -> bool:
        """Stop what runs for this resource without deleting it or its data (``stackwright
        down``); True if something was stopped. The record is left as it is: the next apply
        observes the stopped object as drift and starts it again. Kinds with nothing that
        runs (files, images, networks, volumes) keep this default, which does nothing."""
        return False


class Kind:
    """A kind of resource. Subclass, set the class attributes, register the instance.

    ``immutable`` spec fields force replacement when they change; ``sensitive`` spec fields
    and ``sensitive_outputs`` are never shown or stored in clear text. A ``transactional``
    kind's failed change halts the apply (nothing more starts; in-flight actions are asked to
    stop) and the changes of transactional kinds already done in it are rolled back to their
    records before the apply, newest first.
    """

    name: ClassVar[str]
    spec_model: ClassVar[type[SpecModel]]
    outputs: ClassVar[tuple[str, ...]] = ()
    immutable: ClassVar[frozenset[str]] = frozenset()
    sensitive: ClassVar[frozenset[str]] = frozenset()
    sensitive_outputs: ClassVar[frozenset[str]] = frozenset()
    drivers: ClassVar[Mapping[str, Callable[[], Driver]]] = {}
    api_version: ClassVar[str] = API_VERSION
    transactional: ClassVar[bool] = False

    def driver(self, target: str) -> Driver:
        factory = self.drivers.get(target)
        if factory is None:
            raise RegistryError(
                f"kind {self.name} has no driver for target {target!r}",
                hint=f"targets with a driver: {', '.join(sorted(self.drivers)) or 'none'}",
            )
        return factory()

    def all_outputs(self) -> tuple[str, ...]:
        return ("id", *self.outputs)

    def sensitive_fields(self, inputs: Mapping[str, Any]) -> frozenset[str]:
        """Spec paths to treat as sensitive for these inputs (a kind may depend on a flag)."""
        return self.sensitive

    def sensitive_outputs_for(self, inputs: Mapping[str, Any]) -> frozenset[str]:
        """Output names to treat as sensitive for these inputs."""
        return self.sensitive_outputs

    def replace_fields(
        self, before: Mapping[str, Any], after: Mapping[str, Any], changed: set[str]
    ) -> set[str]:
        """Which of the changed top-level fields force a replacement."""
        return {f for f in changed if f in self.immutable}

    def source_digest(self, inputs: Mapping[str, Any], project_dir: Path) -> str | None:
        """A digest of files outside the spec that this resource is built from (None: none).
        The engine calls it before planning; a changed digest plans an update. A SpecError
        raised here is reported at the resource's location."""
        return None

    def predict_outputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Outputs that can be known at plan time from the inputs alone (else UNKNOWN)."""
        return {}

    def normalize(self, spec: SpecModel) -> dict[str, Any]:
        """The spec as the plain value tree the engine diffs and stores: the fields the user
        set, in canonical JSON form (defaults are filled in again by ``parse``)."""
        return spec.model_dump(mode="json", by_alias=True, exclude_unset=True)

    def parse(self, inputs: Mapping[str, Any]) -> SpecModel:
        """Typed spec from stored or planned inputs, defaults filled in (for drivers)."""
        from stackwright.core.values import spec_fields

        return self.spec_model.model_validate(spec_fields(inputs))

    def validate_together(self, resources: Sequence[Declared]) -> list[SpecError]:
        """Checks across all resources of this kind (overlapping subnets, taken ports)."""
        return []

    def describe(self) -> str:
        return (type(self).__doc__ or "").strip()


def kind_registry() -> Registry[Kind]:
    """A fresh registry of kinds, discovering the ``stackwright.kinds`` entry points."""
    return Registry[Kind]("kind", group="stackwright.kinds")


def get_kind(registry: Registry[Kind], name: str) -> Kind:
    if name not in registry:
        raise RegistryError(f"unknown kind {name!r}", hint=did_you_mean(name, registry.names()))
    return registry.get(name)
