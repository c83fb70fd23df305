"""``stackwright scan DIR``: every scanner over one directory, findings merged.

- the spec (when DIR holds ``stackwright.yaml``): every declared resource, as if created, through
  the built-in policy library and the project's own policies (rule ``SW-POL-<package>``);
- Containerfiles (``containerfile``); secrets in text files and logs (``secretscan``);
- Terraform and Kubernetes files through Checkov, when its ``checkov`` command is installed
  (it is not a dependency: its pins conflict with Stackwright's), merged as ``tool: checkov``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stackwright.policy import containerfile
from stackwright.policy.findings import Finding, Severity

SKIP_DIRS = {".git", ".stackwright", ".venv", "venv", "node_modules", "__pycache__", ".terraform"}
TEXT_SUFFIXES = {".yaml", ".yml", ".json", ".env", ".log", ".txt", ".tf", ".tfvars", ".sh",
                 ".ini", ".conf", ".cfg", ".toml", ".properties", ".py", ".rego"}
MAX_BYTES = 5_000_000
_IAC_SUFFIXES = {".tf", ".yaml", ".yml", ".json"}


def scan_directory(root: Path, *, use_checkov: bool = True) -> tuple[list[Finding], list[str]]:
    from stackwright.errors import SpecError
    from stackwright.policy.secretscan import scan_files

    if not root.is_dir():
        raise SpecError(f"{root}: not a directory", hint="give the directory to scan")
    files = list(walk(root))
    findings: list[Finding] = []
    notes: list[str] = []
    for path in files:
        if containerfile.is_containerfile(path):
            findings.extend(containerfile.check(path, _rel(path, root)))
    texts = [p for p in files if p.suffix in TEXT_SUFFIXES or containerfile.is_containerfile(p)]
    findings.extend(scan_files(texts, root))
    if (root / "stackwright.yaml").is_file():
        findings.extend(scan_spec(root))
    if use_checkov and any(p.suffix in _IAC_SUFFIXES for p in files):
        found, note = run_checkov(root)
        findings.extend(found)
        if note:
            notes.append(note)
    return findings, notes


def walk(root: Path) -> Iterator[Path]:
    for path in sorted(root.iterdir()):
        if path.is_dir():
            if path.name not in SKIP_DIRS and not path.is_symlink():
                yield from walk(path)
        elif path.is_file() and path.stat().st_size <= MAX_BYTES:
            yield path


def scan_spec(root: Path) -> list[Finding]:
    """The spec's resources, each as a create, through the whole built-in library and the
    project's own policies; findings at each resource's file and line."""
    from stackwright.core.engine import Engine
    from stackwright.core.model import Address, Declared
    from stackwright.core.values import mask
    from stackwright.policy.gate import declared_policies, evaluate, load_policy
    from stackwright.policy.kind import PolicySpec

    eng = Engine(root)
    declared = eng.project.declared
    changes = [{"address": str(a), "kind": a.kind, "name": a.name, "action": "create",
                "before": None, "after": mask(dict(d.spec), d.sensitive),
                "labels": dict(d.labels), "refs": {r.field: str(r.target) for r in d.refs
                                                   if r.target}}
               for a, d in sorted(declared.items()) if a.kind != "Policy"]
    if not changes:
        return []
    doc = {"project": eng.name, "environment": eng.environment, "actor": "scan",
           "destroy": False, "summary": {"create": len(changes)}}
    policies = [load_policy(d, s, root) for d, s in declared_policies(declared)]
    lib = Declared(Address("Policy", "built-in-library"), "stackwright.dev/v1", {})
    policies.append(load_policy(lib, PolicySpec(library=["all"]), root))
    where = {str(a): d.location for a, d in declared.items()}
    out: list[Finding] = []
    for policy in policies:
        for result in evaluate(policy, doc, changes, eng.environment):
            loc = where.get(result.address or "")
            out.append(Finding(
                f"SW-POL-{result.source.split()[-1]}",
                Severity.HIGH if result.level == "deny" else Severity.MEDIUM, result.message,
                loc.file if loc else "stackwright.yaml", loc.line if loc else 0,
                title=f"{result.source} ({result.level})"))
    return out


def run_checkov(root: Path) -> tuple[list[Finding], str | None]:
    """Checkov's failed checks, or a note saying why it did not run."""
    exe = shutil.which("checkov") or _venv_checkov()
    if exe is None:
        return [], ("Checkov is not installed: Terraform and Kubernetes files were checked for "
                    "secrets only (install checkov, e.g. with pipx, to run its checks)")
    try:
        proc = subprocess.run([exe, "-d", str(root), "-o", "json", "--quiet", "--compact"],
                              capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [], f"Checkov did not run: {exc}"
    try:
        doc = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        return [], f"Checkov gave no JSON (exit {proc.returncode}): {proc.stderr.strip()[:200]}"
    return checkov_findings(doc, root), None


def _venv_checkov() -> str | None:
    candidate = Path(sys.executable).with_name("checkov")
    return str(candidate) if candidate.is_file() else None


def checkov_findings(doc: Any, root: Path) -> list[Finding]:
    """Checkov's ``-o json`` (one report, or a list of one per framework) as findings."""
    reports = doc if isinstance(doc, list) else [doc]
    out = []
    for report in reports:
        for check in (report.get("results") or {}).get("failed_checks", []):
            lines = check.get("file_line_range") or [0]
            severity = str(check.get("severity") or "MEDIUM").upper()
            out.append(Finding(
                str(check.get("check_id")), Severity[severity] if severity in Severity.__members__
                else Severity.MEDIUM, str(check.get("check_name") or check.get("check_id")),
                str(check.get("file_path", "")).lstrip("/"), int(lines[0] or 0), tool="checkov",
                title=str(check.get("check_name") or "")))
    return out


def _rel(path: Path, root: Path) -> str:
    return str(path.relative_to(root))


__all__ = ["checkov_findings", "run_checkov", "scan_directory", "scan_spec", "walk"]
