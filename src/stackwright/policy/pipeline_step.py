"""The ``scan`` pipeline step: the policy scanners over a job's workspace, SARIF kept as an
artifact of the job, the step failing at or above ``fail-on``.

```yaml
jobs:
  scan:
    host: true
    steps:
      - uses: checkout
      - uses: scan
        with:
          path: .                 # in the workspace (default: all of it)
          fail-on: high           # low, medium, high, critical or none (default: high)
          sarif: scan.sarif       # where the SARIF goes in the workspace (kept as an artifact)
          checkov: false          # also run Checkov when installed (default: false)
```

It runs :func:`stackwright.policy.scan.scan_directory` (Containerfile rules, secret
detection, the spec through the policy library when the directory holds
``stackwright.yaml``), logs each finding (a secret's value never: its hash), writes SARIF
2.1.0 and keeps it with the job's artifacts even when the step fails. Outputs:
``findings`` (how many), ``failing`` (how many at or above ``fail-on``), ``sarif`` (its
path in the workspace). Registered through ``stackwright.pipeline_steps``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from stackwright.errors import StackwrightError
from stackwright.pipelines.step_api import PipelineStep, StepJob
from stackwright.policy.findings import Finding, Severity, at_or_above, parse_severity

SHOWN = 50


def _inside(workspace: Path, rel: str, field: str) -> Path:
    root = workspace.resolve()
    target = (root / rel).resolve()
    if target != root and root not in target.parents:
        raise StackwrightError(f"scan: with.{field} {rel!r} leaves the job's workspace",
                               hint="give a path relative to the workspace")
    return target


def run_scan(inputs: Mapping[str, Any], job: StepJob) -> int:
    from stackwright.policy.sarif import to_sarif
    from stackwright.policy.scan import scan_directory

    fail_on = str(inputs.get("fail-on", "high"))
    try:
        threshold = parse_severity(fail_on)
    except StackwrightError as exc:
        raise StackwrightError(f"scan: with.fail-on: {exc.message}", hint=exc.hint) from exc
    root = _inside(job.workspace, str(inputs.get("path", ".")), "path")
    sarif_rel = str(inputs.get("sarif", "scan.sarif"))
    sarif = _inside(job.workspace, sarif_rel, "sarif")
    job.log(f"[stackwright] scan {root.relative_to(job.workspace.resolve())} "
            f"(fail on {fail_on})")
    findings, notes = scan_directory(root, use_checkov=bool(inputs.get("checkov", False)))
    findings = _from_workspace(findings, root.relative_to(job.workspace.resolve()))
    sarif.parent.mkdir(parents=True, exist_ok=True)
    sarif.write_text(json.dumps(to_sarif(findings), indent=2) + "\n")
    job.keep_artifact([sarif_rel])
    failing = [f for f in findings if at_or_above(f, threshold)]
    _log(job, findings, notes)
    job.set_output("findings", str(len(findings)))
    job.set_output("failing", str(len(failing)))
    job.set_output("sarif", sarif_rel)
    job.log(f"[stackwright] scan: {len(findings)} finding(s), {len(failing)} at or above "
            f"{fail_on}; SARIF in {sarif_rel} (kept with the job's artifacts)")
    return 1 if failing else 0


def _from_workspace(findings: list[Finding], sub: Path) -> list[Finding]:
    """Paths relative to the workspace (the repository's root), as code scanning reads them."""
    if str(sub) in ("", "."):
        return findings
    return [replace(f, file=str(sub / f.file)) if f.file else f for f in findings]


def _log(job: StepJob, findings: list[Finding], notes: list[str]) -> None:
    counts = Counter(f.severity for f in findings)
    if findings:
        job.log("[stackwright] " + ", ".join(f"{counts[s]} {s.name.lower()}"
                                             for s in sorted(counts, reverse=True)))
    ordered = sorted(findings, key=lambda f: (-int(f.severity), f.file, f.line, f.rule))
    for f in ordered[:SHOWN]:
        where = f"{f.file}:{f.line}" if f.line else f.file
        job.log(f"  {f.severity.name.lower():<8} {f.rule} {where}  {f.message}")
    if len(ordered) > SHOWN:
        job.log(f"  … and {len(ordered) - SHOWN} more (all of them in the SARIF)")
    for note in notes:
        job.log(f"  note: {note}")


SCAN_STEP = PipelineStep("scan", "policy scanners over the workspace, SARIF as an artifact",
                         run_scan)

__all__ = ["SCAN_STEP", "Severity", "run_scan"]
