"""``/api/v1/policy/…`` on the daemon (``stackwright.routes`` ``policy``): the policy results
of a plan of the daemon's project, its policies' own Rego tests, and a scan of a path inside
the project. All three only read: a viewer may call them.

    GET /api/v1/policy/results?destroy=false     the plan's policy results (no refresh)
    GET /api/v1/policy/tests?library=false       `stackwright policy test`
    GET /api/v1/policy/scan?path=infra&checkov=false&fail_on=high   `stackwright scan`
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, FastAPI, HTTPException, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

if TYPE_CHECKING:
    from stackwright.server.app import PlatformContext

Severity = Literal["low", "medium", "high", "critical", "none"]


class PolicyResult(BaseModel):
    source: str = Field(description="The Policy and the rule's package, e.g. "
                                    "'Policy/baseline required_labels'.")
    level: str = Field(description="deny or warn")
    enforcement: str = Field(description="advisory, soft-mandatory or hard-mandatory")
    refuses: bool = Field(description="Whether this result refuses apply.")
    address: str | None = Field(None, description="The resource the result is about.")
    message: str


class PolicyResults(BaseModel):
    environment: str
    changes: int = Field(description="Changes in the plan (no-ops left out).")
    refused: bool = Field(description="Whether apply would refuse this plan.")
    results: list[PolicyResult]


class PolicyTest(BaseModel):
    name: str
    module: str
    passed: bool


class PolicyTests(BaseModel):
    ok: bool
    passed: int
    failed: int
    tests: list[PolicyTest]


class ScanFinding(BaseModel):
    rule: str
    severity: str
    tool: str
    file: str
    line: int
    message: str
    title: str
    properties: dict[str, Any] = Field(default_factory=dict)


class ScanReport(BaseModel):
    ok: bool = Field(description="No finding at or above fail_on.")
    path: str
    fail_on: str
    failing: int
    findings: list[ScanFinding]
    notes: list[str]


def mount(app: FastAPI, ctx: PlatformContext) -> None:
    app.include_router(router(ctx), prefix="/api/v1/policy")


def router(ctx: PlatformContext) -> APIRouter:
    api = APIRouter(tags=["policy"])

    @api.get("/results", summary="The policy results of a plan of the project")
    async def results(destroy: bool = False) -> PolicyResults:
        return await run_in_threadpool(plan_results, ctx, destroy)

    @api.get("/tests", summary="Run the policies' own Rego test_* rules")
    async def tests(library: bool = False) -> PolicyTests:
        return await run_in_threadpool(run_policy_tests, ctx, library)

    @api.get("/scan", summary="Scan a path inside the project")
    async def scan(path: str = Query(".", max_length=500), checkov: bool = False,
                   fail_on: Severity = "high") -> ScanReport:
        return await run_in_threadpool(scan_path, ctx, path, checkov, fail_on)

    return api


def plan_results(ctx: PlatformContext, destroy: bool) -> PolicyResults:
    from stackwright.core.model import Action
    from stackwright.server.api import fresh_engine

    eng = fresh_engine(ctx)
    try:
        plan = eng.plan(destroy=destroy, refresh=False)
    finally:
        eng.close()
    found = [PolicyResult(source=c.source, level=c.level, enforcement=str(c.enforcement.value),
                          refuses=c.refuses, address=c.address, message=c.message)
             for c in plan.checks if c.check == "policy"]
    return PolicyResults(environment=plan.environment, refused=any(r.refuses for r in found),
                         changes=sum(1 for c in plan.changes if c.action is not Action.NOOP),
                         results=found)


def run_policy_tests(ctx: PlatformContext, library: bool) -> PolicyTests:
    from stackwright.policy.commands import collect_test_modules
    from stackwright.policy.testing import run_tests
    from stackwright.server.api import fresh_engine

    eng = fresh_engine(ctx)
    try:
        modules = collect_test_modules(_Opts(eng.root), [], library, eng)
    finally:
        eng.close()
    report = run_tests(modules)
    return PolicyTests(ok=report.ok, passed=report.passed, failed=report.failed,
                       tests=[PolicyTest(name=o.name, module=o.module, passed=o.passed)
                              for o in report.outcomes])


def scan_path(ctx: PlatformContext, path: str, checkov: bool, fail_on: str) -> ScanReport:
    from stackwright.policy.findings import at_or_above, parse_severity
    from stackwright.policy.scan import scan_directory

    root = ctx.engine.root.resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root):
        raise HTTPException(400, f"{path}: not inside the project {root}")
    if not target.is_dir():
        raise HTTPException(404, f"{path}: no such directory in the project")
    findings, notes = scan_directory(target, use_checkov=checkov)
    threshold = parse_severity(fail_on)
    failing = sum(1 for f in findings if at_or_above(f, threshold))
    return ScanReport(ok=failing == 0, path=str(target.relative_to(root)) or ".",
                      fail_on=fail_on, failing=failing, notes=notes,
                      findings=[ScanFinding(**f.to_json()) for f in findings])


class _Opts:
    """What ``commands.collect_test_modules`` reads of the CLI's options with an engine."""

    def __init__(self, root: Path) -> None:
        self.chdir = root


__all__ = ["PolicyResults", "PolicyTests", "ScanReport", "mount", "router"]
