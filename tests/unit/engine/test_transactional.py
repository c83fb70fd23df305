"""Transactional kinds: a failed change halts the apply and rolls back the transactional
updates already done in it; a driver that took its own action back keeps its prior record."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from stackwright.core.executor import ExecutionContext, execute
from stackwright.core.kinds import Driver, DriverContext, Kind, SpecModel
from stackwright.core.model import Action, Address, Applied, Change, Observed, Recorded, Status
from stackwright.errors import PermanentError, RolledBack

from .helpers import MemoryRecorder

A, B, C = Address("Step", "a"), Address("Step", "b"), Address("Step", "c")


class StepSpec(SpecModel):
    value: str
    fail: str = ""  # "" | "error" | "rolledBack"


class World:
    """What the steps changed, and every call the driver got."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.calls: list[tuple[str, str, bool]] = []
        self.lock = threading.Lock()


class StepDriver(Driver):
    def __init__(self, world: World) -> None:
        self.world = world

    def read(self, ctx: DriverContext, recorded: Recorded) -> Observed | None:
        return None

    def create(self, ctx: DriverContext, inputs: Mapping[str, Any]) -> Applied:
        raise AssertionError("only updates here")

    def update(self, ctx: DriverContext, recorded: Recorded, inputs: Mapping[str, Any]
               ) -> Applied:
        assert ctx.address is not None
        name, spec = ctx.address.name, StepSpec.model_validate(dict(inputs))
        with self.world.lock:
            self.world.calls.append((name, spec.value, ctx.rollback))
        if spec.fail == "error":
            raise PermanentError(f"{name} broke")
        if spec.fail == "rolledBack":
            raise RolledBack(f"{name} was taken back")
        with self.world.lock:
            self.world.values[name] = spec.value
        return Applied(id=name, outputs={"value": spec.value})

    def delete(self, ctx: DriverContext, recorded: Recorded) -> None:
        raise AssertionError("only updates here")


def step_kind(world: World, transactional: bool) -> Kind:
    class StepKind(Kind):
        name: ClassVar[str] = "Step"
        spec_model = StepSpec
        outputs = ("value",)
        drivers = {"local": lambda: StepDriver(world)}

    StepKind.transactional = transactional
    return StepKind()


def recorded(address: Address, value: str) -> Recorded:
    return Recorded(address, address.name, {"value": value}, {"value": value})


def update(address: Address, value: str, fail: str = "",
           depends_on: tuple[Address, ...] = ()) -> Change:
    after = {"value": value, **({"fail": fail} if fail else {})}
    return Change(address=address, action=Action.UPDATE, before={"value": "old"},
                  after=after, depends_on=depends_on)


def run(tmp_path: Path, world: World, changes: list[Change], transactional: bool = True
        ) -> tuple[Any, MemoryRecorder]:
    before = {c.address: recorded(c.address, "old") for c in changes}
    recorder = MemoryRecorder(before)
    ctx = ExecutionContext(
        kinds={"Step": step_kind(world, transactional)}, recorded=before, recorder=recorder,
        parallelism=1,
        driver_context=lambda a: DriverContext(project_dir=tmp_path, environment="t",
                                               address=a))
    result = execute(changes, ctx)
    assert not ctx.cancelled.is_set()  # a halt is not the caller's cancel
    return result, recorder


def test_a_failure_halts_the_rest_and_rolls_back_what_changed(tmp_path: Path) -> None:
    world = World()
    result, recorder = run(tmp_path, world, [
        update(A, "new"), update(B, "new", "error", depends_on=(A,)), update(C, "new",
                                                                             depends_on=(A,))])
    assert result.failed == {B: "b broke"} and result.halted_by == B
    assert result.rolled_back == [A] and not result.rollback_failed
    assert C in result.skipped and not result.interrupted and not result.ok
    assert world.calls == [("a", "new", False), ("b", "new", False), ("a", "old", True)]
    assert world.values == {"a": "old"}
    assert recorder.resources[A].inputs == {"value": "old"}
    assert recorder.resources[A].status is Status.READY
    assert ("restored", "Step/a") in recorder.log


def test_a_driver_that_took_its_action_back_keeps_its_record(tmp_path: Path) -> None:
    world = World()
    result, recorder = run(tmp_path, world, [update(A, "new", "rolledBack")])
    assert result.failed == {A: "a was taken back"}
    assert recorder.resources[A].status is Status.READY
    assert recorder.resources[A].inputs == {"value": "old"}
    assert recorder.log == [("updating", "Step/a"), ("restored", "Step/a")]


@pytest.mark.parametrize("transactional", [False])
def test_other_kinds_keep_going_and_keep_their_changes(tmp_path: Path,
                                                       transactional: bool) -> None:
    world = World()
    result, recorder = run(tmp_path, world, [update(A, "new"), update(B, "new", "error"),
                                             update(C, "new")], transactional)
    assert result.halted_by is None and result.rolled_back == []
    assert world.values == {"a": "new", "c": "new"}
    assert recorder.resources[B].status is Status.UPDATING
