"""Properties of plan and apply over random graphs: after apply the plan is empty, plans are
deterministic, destroy leaves nothing, and only immutable fields cause replacement."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackwright.core.executor import ExecutionContext, execute
from stackwright.core.kinds import DriverContext
from stackwright.core.model import Action, Address, Observed
from stackwright.core.planner import plan_changes

from .helpers import KINDS, MemoryRecorder, declare_all

NAMES = [f"r{i}" for i in range(8)]


@st.composite
def specs(draw: Any) -> dict[str, dict[str, Any]]:
    """A random acyclic spec: each resource may reference earlier ones."""
    count = draw(st.integers(min_value=1, max_value=8))
    out: dict[str, dict[str, Any]] = {}
    for i in range(count):
        earlier = [n for n in list(out)]
        refs = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=2)) if earlier else []
        triggers = {"v": draw(st.sampled_from(["a", "b"]))}
        for j, ref in enumerate(refs):
            kind, name = ref.split("/")
            output = "sha256" if kind == "File" else "id"
            triggers[f"ref{j}"] = f"${{{{ {kind}.{name}.{output} }}}}"
        if draw(st.booleans()):
            content = draw(st.sampled_from(["x", "y"])) + "-" + "-".join(triggers.values())
            out[f"File/{NAMES[i]}"] = {"spec": {"path": f"{NAMES[i]}.txt", "content": content}}
        else:
            out[f"Command/{NAMES[i]}"] = {"spec": {"triggers": triggers}}
    return out


def _observe(root: Path, recorder: MemoryRecorder) -> dict[Address, Observed | None]:
    ctx = DriverContext(project_dir=root, environment="test")
    return {a: KINDS[a.kind].driver("local").read(ctx, r) for a, r in recorder.resources.items()}


def _apply(root: Path, spec: dict[str, Any], recorder: MemoryRecorder, destroy: bool = False
           ) -> list[Any]:
    changes = plan_changes(declare_all(spec), recorder.resources, _observe(root, recorder), KINDS,
                           destroy=destroy)
    ctx = ExecutionContext(
        kinds=KINDS, recorded=dict(recorder.resources),
        driver_context=lambda a: DriverContext(project_dir=root, environment="test"),
        recorder=recorder, parallelism=3,
    )
    result = execute(changes, ctx)
    assert result.ok, result.failed
    return changes


def _actions(root: Path, spec: dict[str, Any], recorder: MemoryRecorder) -> list[tuple[str, str]]:
    changes = plan_changes(declare_all(spec), recorder.resources, _observe(root, recorder), KINDS)
    return [(str(c.address), c.action.value) for c in changes]


PROPS = settings(max_examples=40, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


@PROPS
@given(first=specs(), second=specs())
def test_after_apply_plan_is_empty_and_destroy_leaves_nothing(first: Any, second: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        recorder = MemoryRecorder()
        for spec in (first, second):
            _apply(root, spec, recorder)
            assert all(action == "no-op" for _, action in _actions(root, spec, recorder))
            assert {str(a) for a in recorder.resources} == set(spec)
        _apply(root, second, recorder, destroy=True)
        assert recorder.resources == {}
        assert sorted(p.name for p in root.iterdir()) == []


@PROPS
@given(spec=specs())
def test_plan_is_deterministic(spec: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        recorder = MemoryRecorder()
        first = plan_changes(declare_all(spec), {}, {}, KINDS)
        assert first == plan_changes(declare_all(spec), {}, {}, KINDS)
        _apply(root, spec, recorder)
        observed = _observe(root, recorder)
        again = [plan_changes(declare_all(spec), recorder.resources, observed, KINDS)
                 for _ in range(2)]
        assert again[0] == again[1]


@PROPS
@given(before=specs(), after=specs())
def test_replace_only_on_immutable_fields(before: Any, after: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        recorder = MemoryRecorder()
        _apply(root, before, recorder)
        changes = plan_changes(declare_all(after), recorder.resources,
                               _observe(root, recorder), KINDS)
        for change in changes:
            kind = KINDS[change.address.kind]
            if change.action is Action.REPLACE:
                forced = {d.path.split(".")[0] for d in change.diffs if d.forces_replacement}
                assert forced and forced <= kind.immutable, change
            if change.action is Action.UPDATE:
                assert not any(d.forces_replacement for d in change.diffs)
