"""What ``stackwright status`` shows of each resource: its record, and what is live now.

Every resource is read through its driver (as ``drift`` does): ``health`` is ``healthy``,
``missing`` (the object is gone), ``drifted`` (with the fields that differ) or the record's
own status while an action is unfinished. Live outputs (a service's healthy replicas and
their endpoints) win over recorded ones; sensitive outputs are never shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stackwright.core.model import Action, Address, Change, Observed, Recorded, Status
from stackwright.core.planner import detect_drift
from stackwright.errors import StackwrightError

if TYPE_CHECKING:
    from stackwright.core.engine import Engine

SUMMARY_OUTPUTS = ("replicas", "revision", "endpoints", "url", "host", "port", "image",
                   "metrics_url", "exit_code")


def resource_rows(engine: Engine) -> list[dict[str, Any]]:
    """One row per recorded resource, in address order."""
    recorded = engine.snapshot().resources
    if not recorded:
        return []
    kinds = engine.kind_map(recorded)
    try:
        observed: Mapping[Address, Observed | None] = engine.observe(recorded, kinds)
    except StackwrightError as exc:
        return [_row(r, None, None, f"unknown: {exc.message}") for _, r in sorted(
            recorded.items())]
    drift = {c.address: c for c in detect_drift(recorded, observed, kinds)}
    return [_row(rec, observed.get(a), drift.get(a), None) for a, rec in sorted(
        recorded.items())]


def _row(rec: Recorded, live: Observed | None, drift: Change | None,
         problem: str | None) -> dict[str, Any]:
    outputs = {**rec.outputs, **(live.outputs if live is not None else {})}
    shown = {k: outputs[k] for k in SUMMARY_OUTPUTS
             if k in outputs and k not in rec.sensitive_outputs and outputs[k] is not None}
    if "replicas" in shown and "replicas" in rec.inputs:
        shown["replicas"] = f"{shown['replicas']}/{rec.inputs['replicas']}"
    return {"address": str(rec.address), "id": rec.id, "status": rec.status.value,
            "health": problem or _health(rec, drift), "outputs": shown}


def _health(rec: Recorded, drift: Change | None) -> str:
    if rec.status is not Status.READY:
        return rec.status.value
    if drift is None:
        return "healthy"
    if drift.action is Action.DELETE:
        return "missing"
    return "drifted: " + ", ".join(d.path for d in drift.diffs)
