"""Password rotation of a ``Database`` without downtime: two login slots. Pure.

PostgreSQL gives a role one password, and a rolling update needs two valid credentials at
once (old replicas keep the old one until they are replaced). So a rotating database keeps its
owner role ``<user>`` NOLOGIN and two login roles, ``<user>_a`` and ``<user>_b``, members of
it with ``role`` set to it (what they create belongs to the owner). One slot is *active*: the
outputs ``user``, ``password``, ``url`` and ``internalUrl`` name it.

A rotation sets a new password on the other slot and makes it active; the slot it leaves is
*retiring* until the services that use the database were rolled to the new values, then it is
retired (NOLOGIN, no password, its sessions ended). A database made before rotation existed
has one login role, the owner: its slot is ``owner``, and the first rotation moves it to
``a`` (the owner is then retired like any slot).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from stackwright.durations import period

OWNER = "owner"  # the slot of a database made before rotation: the owner logs in
SLOTS = ("a", "b")


def role(owner: str, slot: str) -> str:
    """The login role of ``slot``: the owner itself, or ``<owner>_a`` / ``<owner>_b``."""
    return owner if slot == OWNER else f"{owner}_{slot}"


def next_slot(active: str) -> str:
    """The slot a rotation moves to (the owner's slot moves to ``a``)."""
    return "b" if active == "a" else "a"


def due(every: str | None, rotated_at: str | None, now: datetime) -> bool:
    if every is None or not rotated_at:
        return False
    return now >= datetime.fromisoformat(rotated_at) + period(every)


@dataclass(frozen=True)
class SlotState:
    """What the record says about the slots."""

    active: str = OWNER
    retiring: str | None = None
    rotated_at: str | None = None

    @classmethod
    def of(cls, outputs: Mapping[str, Any]) -> SlotState:
        return cls(active=str(outputs.get("slot") or OWNER),
                   retiring=outputs.get("retiring") or None,
                   rotated_at=outputs.get("rotated_at") or None)


class Step(Enum):
    ROTATE = "rotate"
    RETIRE = "retire"


@dataclass(frozen=True)
class Wanted:
    """The rotation fields of the spec before and after an update."""

    rotates: bool  # rotatePasswordEvery or rotation set (slots in use)
    every: str | None
    rotation_before: int
    rotation_after: int


def decide(wanted: Wanted, state: SlotState, now: datetime, repair: bool) -> Step | None:
    """What an update of the database does to its slots.

    - A database without rotation keeps its single owner login; the first update that asks
      for rotation moves it to slots (a rotation).
    - A changed ``rotation`` counter rotates now, even while a slot is retiring (the apply that
      rotates also rolls the services, so that slot is no longer in use).
    - While a slot is retiring, a repair (an update to the recorded inputs: the daemon's
      ``databases`` controller, after it rolled the services) retires it; a scheduled
      rotation waits for that.
    - Otherwise a rotation is made when ``rotatePasswordEvery`` has passed.
    """
    if state.active == OWNER:
        return Step.ROTATE if wanted.rotates else None
    if wanted.rotation_after != wanted.rotation_before:
        return Step.ROTATE
    if state.retiring is not None:
        return Step.RETIRE if repair else None
    return Step.ROTATE if due(wanted.every, state.rotated_at, now) else None


# Which services to roll, and with what.

def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def holds(inputs: Mapping[str, Any], secret: str) -> bool:
    """Whether any string in ``inputs`` contains ``secret``."""
    return bool(secret) and any(secret in s for s in _strings(dict(inputs)))


def _map(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, Mapping):
        return {k: _map(v, fn) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_map(v, fn) for v in value]
    return value


def replaced(inputs: Mapping[str, Any], swaps: list[tuple[str, str]],
             users: tuple[str, str] | None) -> dict[str, Any] | None:
    """``inputs`` with each old value of ``swaps`` (URLs, then the password) replaced by the
    new one wherever it occurs, and strings equal to the old user of ``users`` (old, new) by
    the new one; None when nothing changes. ``users`` is None for the owner's slot, whose
    name is often the database's too."""

    def swap(text: str) -> str:
        if users is not None and text == users[0]:
            return users[1]
        for old, new in swaps:
            if old:
                text = text.replace(old, new)
        return text

    out = _map(dict(inputs), swap)
    return out if out != dict(inputs) else None
