"""Engine.suspend with a fake kind: dependents are stopped first, a failure is reported with
its address while the others are still stopped, records are unchanged, one audit entry."""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from stackwright.core.engine import Engine, Suspended, require_changes_applied, suspend_waves
from stackwright.core.kinds import Driver, DriverContext, Kind, SpecModel
from stackwright.core.model import Address, Applied, Observed, Recorded
from stackwright.errors import PermanentError
from stackwright.registry import Registry


class ProcSpec(SpecModel):
    fails: bool = False
    idle: bool = False  # nothing runs: suspend has nothing to stop


class ProcDriver(Driver):
    """Records the order of suspend calls in a list shared by the test."""

    calls: ClassVar[list[str]] = []
    lock: ClassVar[threading.Lock] = threading.Lock()

    def read(self, ctx: DriverContext, recorded: Recorded) -> Observed | None:
        return Observed()

    def create(self, ctx: DriverContext, inputs: Mapping[str, Any]) -> Applied:
        return Applied(id=str(ctx.address), outputs={})

    def update(self, ctx: DriverContext, recorded: Recorded,
               inputs: Mapping[str, Any]) -> Applied:
        return Applied(id=recorded.id or "", outputs={})

    def delete(self, ctx: DriverContext, recorded: Recorded) -> None:
        pass

    def suspend(self, ctx: DriverContext, recorded: Recorded) -> bool:
        with self.lock:
            self.calls.append(str(recorded.address))
        if recorded.inputs.get("fails"):
            raise PermanentError("podman said no")
        return not recorded.inputs.get("idle")


class ProcKind(Kind):
    name: ClassVar[str] = "Proc"
    spec_model = ProcSpec
    drivers = {"local": lambda: ProcDriver()}


SPEC = """
apiVersion: stackwright.dev/v1
kind: Proc
metadata: {name: db}
spec: {}
---
apiVersion: stackwright.dev/v1
kind: Proc
metadata: {name: cache}
spec: {fails: true}
---
apiVersion: stackwright.dev/v1
kind: Proc
metadata: {name: web}
dependsOn: [Proc/db, Proc/cache]
spec: {}
---
apiVersion: stackwright.dev/v1
kind: Proc
metadata: {name: edge}
dependsOn: [Proc/web]
spec: {}
---
apiVersion: stackwright.dev/v1
kind: Proc
metadata: {name: files}
spec: {idle: true}
"""


def _rec(name: str, *deps: str) -> Recorded:
    return Recorded(Address("Proc", name), name, {}, {},
                    depends_on=tuple(Address("Proc", d) for d in deps))


def test_waves_put_dependents_first() -> None:
    recorded = {r.address: r for r in (_rec("db"), _rec("web", "db"), _rec("edge", "web"),
                                       _rec("job", "db"), _rec("lone"))}
    waves = [[a.name for a in wave] for wave in suspend_waves(recorded)]
    assert waves == [["edge", "job", "lone"], ["web"], ["db"]]
    assert suspend_waves({}) == []


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("STACKWRIGHT_KEY_DIR", str(tmp_path / "keys"))
    (tmp_path / "stackwright.yaml").write_text("project: susp\n")
    (tmp_path / "main.yaml").write_text(textwrap.dedent(SPEC).lstrip())
    kinds = Registry[Kind]("kind")
    kinds.add("Proc", ProcKind())
    eng = Engine(tmp_path, kinds=kinds)
    outcome = eng.apply()
    assert outcome is not None
    require_changes_applied(outcome)
    ProcDriver.calls.clear()
    return eng


def test_suspend_stops_dependents_first_and_reports_failures(engine: Engine) -> None:
    before = engine.snapshot()
    events: list[Suspended] = []
    outcome = engine.suspend(on_event=events.append)
    calls = ProcDriver.calls
    assert calls.index("Proc/edge") < calls.index("Proc/web") < calls.index("Proc/db")
    assert calls.index("Proc/web") < calls.index("Proc/cache")
    assert sorted(calls) == sorted(str(a) for a in before.resources), "every one is asked"
    assert [str(a) for a in outcome.stopped] == ["Proc/edge", "Proc/web", "Proc/db"]
    assert not outcome.ok
    assert {str(a): e for a, e in outcome.failed.items()} == {"Proc/cache": "podman said no"}
    assert {str(e.address) for e in events} == {"Proc/edge", "Proc/web", "Proc/db",
                                                 "Proc/cache"}, "idle ones are not reported"
    after = engine.snapshot()
    assert after.generation == before.generation and after.resources == before.resources
    entries = [e for e in engine.store.audit_entries(project="susp")
               if e.action == "resources.suspend"]
    assert len(entries) == 1
    assert entries[0].data == {"suspended": ["Proc/edge", "Proc/web", "Proc/db"],
                               "failed": ["Proc/cache"]}
    assert engine.store.current_lock("susp", engine.environment) is None
    engine.close()


def test_suspend_of_an_empty_environment_does_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKWRIGHT_KEY_DIR", str(tmp_path / "keys"))
    (tmp_path / "stackwright.yaml").write_text("project: empty\n")
    engine = Engine(tmp_path)
    outcome = engine.suspend()
    assert outcome.ok and outcome.stopped == ()
    assert not (tmp_path / ".stackwright" / "state.db").exists(), "no state is created"
