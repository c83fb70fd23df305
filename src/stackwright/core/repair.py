"""Repair: apply a resource's recorded inputs again, outside a user's apply.

Used by the daemon's controllers. It takes the writer lock without waiting (a running apply
converges the resource itself), plans exactly one update of the recorded inputs, and runs it
through the executor, so the result is committed, audited and listed in ``state history``
like any apply (operation ``repair``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from stackwright.core.executor import Event
from stackwright.core.model import Action, Address, Change, Plan, Status
from stackwright.errors import LockError

if TYPE_CHECKING:
    from stackwright.core.engine import ApplyOutcome, Engine


def repair(engine: Engine, address: Address, *, who: str, reason: str,
           inputs: Mapping[str, Any] | None = None,
           on_event: Callable[[Event], None] = lambda event: None) -> ApplyOutcome | None:
    """Update ``address`` to what the state records (or to ``inputs``: the recorded inputs
    with a value a controller changed, such as a rotated secret's reference); None when
    another writer holds the lock or the resource is no longer recorded as ready."""
    try:
        with engine.store.lock(engine.name, engine.environment, operation="repair", who=who):
            snapshot = engine.snapshot()
            record = snapshot.resources.get(address)
            if record is None or record.status is not Status.READY:
                return None
            change = Change(address=address, action=Action.UPDATE, before=record.inputs,
                            after=dict(inputs if inputs is not None else record.inputs),
                            reason=reason, depends_on=record.depends_on,
                            sensitive=record.sensitive, prior_id=record.id)
            plan = Plan(project=engine.name, environment=engine.environment, changes=(change,),
                        state_serial=snapshot.generation, state_fingerprint="")
            return engine._execute(plan, snapshot, who, 1, on_event, operation="repair")
    except LockError:
        return None
