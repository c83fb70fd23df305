"""Golden cases for the planner: tests/cases/<kind>/<case>.yaml hold declared, recorded and
observed resources and the changes expected; one loader turns each file into a test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from stackwright.core.model import Address, Observed, Recorded, Status
from stackwright.core.planner import plan_changes
from stackwright.core.values import UNKNOWN

from .helpers import KINDS, declare_all

CASES = sorted((Path(__file__).parents[2] / "cases").glob("*/*.yaml"))


def _recorded(doc: dict[str, Any]) -> dict[Address, Recorded]:
    out = {}
    for address, rec in (doc or {}).items():
        addr = Address.parse(address)
        out[addr] = Recorded(
            addr, rec.get("id"), rec.get("inputs", {}), rec.get("outputs", {}),
            Status(rec.get("status", "ready")),
            tuple(Address.parse(d) for d in rec.get("dependsOn", ())),
        )
    return out


def _observed(doc: dict[str, Any]) -> dict[Address, Observed | None]:
    out: dict[Address, Observed | None] = {}
    for address, obs in (doc or {}).items():
        out[Address.parse(address)] = (
            None if obs is None else Observed(obs.get("inputs", {}), obs.get("outputs", {}))
        )
    return out


def _show(value: Any) -> Any:
    return "(known after apply)" if value is UNKNOWN else value


@pytest.mark.parametrize("case", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_golden(case: Path) -> None:
    doc = yaml.safe_load(case.read_text())
    changes = plan_changes(
        declare_all(doc.get("declared") or {}),
        _recorded(doc.get("recorded")),
        _observed(doc.get("observed")),
        KINDS,
        destroy=doc.get("destroy", False),
    )
    got = {}
    for c in changes:
        entry: dict[str, Any] = {"action": c.action.value}
        if c.reason:
            entry["reason"] = c.reason
        if c.diffs:
            entry["diffs"] = {d.path: [_show(d.before), _show(d.after)] for d in c.diffs}
        forced = sorted(d.path for d in c.diffs if d.forces_replacement)
        if forced:
            entry["forces"] = forced
        got[str(c.address)] = entry
    assert got == doc["expected"]
    assert [str(c.address) for c in changes] == list(doc["expected"]), "order"
