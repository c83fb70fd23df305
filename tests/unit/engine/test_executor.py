"""The executor resolves unknowns at apply time and checks them against the plan."""

from __future__ import annotations

from pathlib import Path

from stackwright.core.executor import ExecutionContext, apply_graph, execute
from stackwright.core.kinds import DriverContext
from stackwright.core.model import Action, Address
from stackwright.core.planner import plan_changes
from stackwright.core.values import UNKNOWN

from .helpers import KINDS, MemoryRecorder, declare_all

SPEC = {
    "Command/up": {"spec": {"triggers": {"v": "1"}}},
    "Command/down": {"spec": {"timeout": 5, "triggers": {"up": "${{ Command.up.id }}"}}},
}


def _context(root: Path, recorder: MemoryRecorder) -> ExecutionContext:
    return ExecutionContext(
        kinds=KINDS, recorded=dict(recorder.resources), recorder=recorder, parallelism=2,
        driver_context=lambda a: DriverContext(project_dir=root, environment="t", address=a),
    )


def test_unknowns_resolve_and_coerced_values_match_the_plan(tmp_path: Path) -> None:
    recorder = MemoryRecorder()
    changes = plan_changes(declare_all(SPEC), {}, {}, KINDS)
    down = next(c for c in changes if c.address == Address("Command", "down"))
    assert down.after is not None and down.after["triggers"]["up"] is UNKNOWN
    assert down.after["timeout"] == 5, "planned as written; applied as 5.0"
    result = execute(changes, _context(tmp_path, recorder))
    assert result.ok, result.failed
    up_id = recorder.resources[Address("Command", "up")].id
    assert recorder.resources[Address("Command", "down")].inputs == {
        "timeout": 5.0, "triggers": {"up": up_id}}


def test_delete_waits_for_dependents_and_soft_edges_never_cycle(tmp_path: Path) -> None:
    recorder = MemoryRecorder()
    assert execute(plan_changes(declare_all(SPEC), {}, {}, KINDS),
                   _context(tmp_path, recorder)).ok
    changes = plan_changes({}, recorder.resources, {}, KINDS)
    assert [c.action for c in changes] == [Action.DELETE, Action.DELETE]
    graph = apply_graph(changes, recorder.resources)
    assert graph.dependencies[Address("Command", "up")] == (Address("Command", "down"),)
    assert execute(changes, _context(tmp_path, recorder)).ok
    assert recorder.resources == {}
