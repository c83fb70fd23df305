"""Plans as JSON: saved plan files (sensitive values encrypted) and ``--output json``."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackwright.core.model import Action, Address, Change, FieldDiff, Plan
from stackwright.core.values import (
    SENSITIVE_TEXT,
    from_jsonable,
    mask,
    to_jsonable,
)
from stackwright.errors import PlanError

if TYPE_CHECKING:
    from stackwright.core.state.crypto import Cipher

FORMAT_VERSION = 1


def change_to_json(change: Change, *, masked: bool = True) -> dict[str, Any]:
    """One change as JSON; sensitive values read ``(sensitive)`` when ``masked``."""
    sens = change.sensitive if masked else frozenset()
    return {
        "address": str(change.address),
        "kind": change.address.kind,
        "name": change.address.name,
        "action": change.action.value,
        "reason": change.reason,
        "prior_id": change.prior_id,
        "depends_on": [str(a) for a in change.depends_on],
        "before": to_jsonable(mask(change.before, sens)) if change.before is not None else None,
        "after": to_jsonable(mask(change.after, sens)) if change.after is not None else None,
        "diffs": [_diff_to_json(d, masked) for d in change.diffs],
        "sensitive": sorted(change.sensitive),
    }


def _diff_to_json(diff: FieldDiff, masked: bool) -> dict[str, Any]:
    hide = masked and diff.sensitive
    return {
        "path": diff.path,
        "before": SENSITIVE_TEXT if hide else to_jsonable(diff.before),
        "after": SENSITIVE_TEXT if hide else to_jsonable(diff.after),
        "forces_replacement": diff.forces_replacement,
        "sensitive": diff.sensitive,
    }


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The plan as users and tools read it: masked, with a summary."""
    return {
        "format_version": FORMAT_VERSION,
        "project": plan.project,
        "environment": plan.environment,
        "destroy": plan.destroy,
        "state_serial": plan.state_serial,
        "created_at": plan.created_at,
        "has_changes": plan.has_changes,
        "summary": plan.counts(),
        "changes": [change_to_json(c) for c in plan.changes if c.action is not Action.NOOP],
        "unchanged": sum(1 for c in plan.changes if c.action is Action.NOOP),
        "drift": [change_to_json(c) for c in plan.drift],
        "checks": [_check_to_json(r) for r in plan.checks],
    }


def _check_to_json(result: Any) -> dict[str, Any]:
    from stackwright.core.checks import result_to_json

    return result_to_json(result)


def write_plan(plan: Plan, path: Path, cipher: Cipher) -> None:
    """Save a plan to apply later; sensitive values are sealed with the state key."""
    from stackwright.core.state.crypto import seal_tree

    aad = _aad(plan)
    changes = []
    for change in plan.changes:
        doc = change_to_json(change, masked=False)
        for key in ("before", "after"):
            if doc[key] is not None:
                doc[key] = seal_tree(doc[key], change.sensitive, cipher, aad)
        doc["template"] = (
            seal_tree(to_jsonable(change.template), change.sensitive, cipher, aad)
            if change.template is not None
            else None
        )
        doc["diffs"] = [_diff_to_json(d, True) for d in change.diffs]
        doc["api_version"] = change.api_version
        changes.append(doc)
    body = {
        "format_version": FORMAT_VERSION,
        "kind": "stackwright-plan",
        "project": plan.project,
        "environment": plan.environment,
        "destroy": plan.destroy,
        "state_serial": plan.state_serial,
        "state_fingerprint": plan.state_fingerprint,
        "created_at": plan.created_at,
        "changes": changes,
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(body, indent=1, sort_keys=True))
    tmp.replace(path)


def read_plan(path: Path, cipher: Cipher) -> Plan:
    from stackwright.core.state.crypto import unseal_tree

    try:
        body = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PlanError(f"cannot read plan file {path}: {exc}") from exc
    if body.get("kind") != "stackwright-plan" or body.get("format_version") != FORMAT_VERSION:
        raise PlanError(f"{path} is not a Stackwright plan file of format {FORMAT_VERSION}")
    plan = Plan(
        project=body["project"],
        environment=body["environment"],
        changes=(),
        state_serial=body["state_serial"],
        state_fingerprint=body["state_fingerprint"],
        destroy=body["destroy"],
        created_at=body["created_at"],
    )
    aad = _aad(plan)
    changes = tuple(_change_from_json(doc, cipher, aad, unseal_tree) for doc in body["changes"])
    return replace(plan, changes=changes)


def _change_from_json(doc: dict[str, Any], cipher: Cipher, aad: bytes, unseal: Any) -> Change:
    def tree(key: str) -> Any:
        value = doc.get(key)
        return None if value is None else from_jsonable(unseal(value, cipher, aad))

    return Change(
        address=Address.parse(doc["address"]),
        action=Action(doc["action"]),
        before=tree("before"),
        after=tree("after"),
        template=tree("template"),
        diffs=tuple(
            FieldDiff(d["path"], from_jsonable(d["before"]), from_jsonable(d["after"]),
                      d["forces_replacement"], d["sensitive"])
            for d in doc["diffs"]
        ),
        reason=doc["reason"],
        depends_on=tuple(Address.parse(a) for a in doc["depends_on"]),
        sensitive=frozenset(doc["sensitive"]),
        prior_id=doc["prior_id"],
        api_version=doc.get("api_version", "stackwright.dev/v1"),
    )


def _aad(plan: Plan) -> bytes:
    return f"plan:{plan.project}:{plan.environment}".encode()
