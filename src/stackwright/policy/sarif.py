"""Findings as SARIF 2.1.0, the format GitHub code scanning and most scanners read.

One run per tool (Stackwright's own rules, Checkov's). ``schemas/sarif-schema-2.1.0.json``
is the schema the tests validate against (the 2.1.0 RTM schema as shipped, MIT-licensed, in
the npm package ``@microsoft/jest-sarif``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stackwright import __version__
from stackwright.policy.findings import Finding, Severity

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SCHEMA_PATH = Path(__file__).parent / "schemas" / "sarif-schema-2.1.0.json"
_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning",
          Severity.LOW: "note", Severity.INFO: "note"}
# GitHub's security-severity scale (0-10) for each severity.
_SCORE = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5",
          Severity.LOW: "3.0", Severity.INFO: "0.0"}


def to_sarif(findings: Sequence[Finding]) -> dict[str, Any]:
    tools = sorted({f.tool for f in findings} | {"stackwright"})
    return {"$schema": SCHEMA_URI, "version": "2.1.0",
            "runs": [_run(tool, [f for f in findings if f.tool == tool]) for tool in tools]}


def _run(tool: str, findings: list[Finding]) -> dict[str, Any]:
    rules: dict[str, int] = {}
    descriptors: list[dict[str, Any]] = []
    results = []
    for f in findings:
        if f.rule not in rules:
            rules[f.rule] = len(descriptors)
            descriptors.append(_rule(f))
        results.append(_result(f, rules[f.rule]))
    driver: dict[str, Any] = {"name": tool, "rules": descriptors}
    if tool == "stackwright":
        driver.update(version=__version__, informationUri="https://stackwright.dev/docs/policy")
    return {"tool": {"driver": driver}, "results": results}


def _rule(f: Finding) -> dict[str, Any]:
    return {"id": f.rule, "shortDescription": {"text": f.title or f.rule},
            "defaultConfiguration": {"level": _LEVEL[f.severity]},
            "properties": {"security-severity": _SCORE[f.severity], "tags": ["security"]}}


def _result(f: Finding, index: int) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": f.file or "."}}
    if f.line > 0:
        physical["region"] = {"startLine": f.line}
    return {"ruleId": f.rule, "ruleIndex": index, "level": _LEVEL[f.severity],
            "message": {"text": f.message}, "locations": [{"physicalLocation": physical}],
            "properties": {"severity": f.severity.name.lower(), **f.properties}}


__all__ = ["SCHEMA_PATH", "SCHEMA_URI", "to_sarif"]
