"""Plan checks: the one hook where a plan is examined before apply.

A domain registers a check under the ``stackwright.plan_checks`` entry-point group: a callable
``(PlanCheckInput) -> Iterable[CheckResult]``. The engine runs every registered check after it
plans (``plan`` shows the results under the diff) and again on the plan apply is about to run
(a saved plan too), before confirmation and before anything changes. A ``deny`` result of a
``hard-mandatory`` check refuses the apply; a ``soft-mandatory`` one refuses it unless the
user overrides with a reason (recorded in the audit log); ``advisory`` results only inform.
The core knows nothing of what a check looks at: policies, costs, quotas are the domains'.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from stackwright.core.model import Address, CheckResult, Declared, Enforcement, Plan
from stackwright.errors import PlanRefusedError

PLAN_CHECKS_GROUP = "stackwright.plan_checks"


@dataclass(frozen=True)
class PlanCheckInput:
    """What a check sees: the plan (sensitive values are masked by ``change_to_json``, which
    checks use to read changes), the declared resources, and who plans where."""

    plan: Plan
    declared: Mapping[Address, Declared]
    project_dir: Path
    environment: str
    actor: str


PlanCheck = Callable[[PlanCheckInput], Iterable[CheckResult]]


def load_plan_checks() -> dict[str, PlanCheck]:
    """The registered checks by name (entry points are loaded on each call; the loading is
    cheap next to a plan, and a check that has nothing to do returns at once)."""
    from importlib.metadata import entry_points

    return {ep.name: ep.load() for ep in sorted(entry_points(group=PLAN_CHECKS_GROUP),
                                                key=lambda e: e.name)}


def run_plan_checks(inp: PlanCheckInput,
                    checks: Mapping[str, PlanCheck] | None = None) -> tuple[CheckResult, ...]:
    """Every check's results, in the checks' name order. A check's error (bad policy code)
    is raised: a plan whose checks cannot run is not a plan to apply."""
    found: list[CheckResult] = []
    for check in (load_plan_checks() if checks is None else checks).values():
        found.extend(check(inp))
    return tuple(found)


def enforce(plan: Plan, override: str | None) -> tuple[CheckResult, ...]:
    """Raise :class:`PlanRefusedError` when mandatory denials stop ``plan``; returns the
    soft-mandatory denials an override lets through (to be audited)."""
    hard = [r for r in plan.checks if r.refuses and r.enforcement is Enforcement.HARD_MANDATORY]
    soft = [r for r in plan.checks if r.refuses and r.enforcement is Enforcement.SOFT_MANDATORY]
    if hard:
        raise PlanRefusedError(_refusal(hard + ([] if override else soft)), plan=plan,
                               hint="change the spec so the hard-mandatory checks pass; "
                                    "they cannot be overridden")
    if soft and not override:
        raise PlanRefusedError(_refusal(soft), plan=plan,
                               hint="fix the spec, or pass --override REASON to apply anyway "
                                    "(the reason is recorded in the audit log)")
    return tuple(soft)


def _refusal(results: list[CheckResult]) -> str:
    lines = [f"{r.source} [{r.enforcement.value}]: {r.message}" for r in results]
    return (f"the plan is refused by {len(results)} mandatory check result(s):\n  "
            + "\n  ".join(lines))


def result_to_json(result: CheckResult) -> dict[str, object]:
    return {"check": result.check, "source": result.source, "level": result.level,
            "enforcement": result.enforcement.value, "address": result.address,
            "message": result.message}


__all__ = ["PLAN_CHECKS_GROUP", "PlanCheck", "PlanCheckInput", "enforce", "load_plan_checks",
           "result_to_json", "run_plan_checks"]
