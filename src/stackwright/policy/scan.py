"""``stackwright scan DIR``: every scanner over one directory, findings merged.

- the spec (when DIR holds ``stackwright.yaml``): every declared resource, as if created, through
  the built-in policy library and the project's own policies (rule ``SW-POL-<package>``);
- Containerfiles (``containerfile``); secrets in text files and logs (``secretscan``);
- Terraform and Kubernetes files through Checkov, when its ``checkov`` command is installed
  (it is not a dependency: its pins conflict with Stackwright's), merged as ``tool: checkov``.
"""

from __future__ import annotations

import json
import os
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
        try:
            findings.extend(scan_spec(root))
        except SpecError as exc:  # the other scanners' findings still count
            notes.append(f"the spec was not checked, it does not load: {exc}")
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


CHECKOV_ENV = "STACKWRIGHT_CHECKOV"
_CHECKOV_ARGS = ("-o", "json", "--quiet", "--compact", "--skip-download",
                 "--framework", "terraform", "kubernetes")


def run_checkov(root: Path) -> tuple[list[Finding], str | None]:
    """Checkov's failed checks, or a note saying why it did not run."""
    exe, tried = find_checkov(root)
    if exe is None:
        return [], ("Checkov is not installed: Terraform and Kubernetes files were checked for "
                    f"secrets only (looked at {tried}; `make setup` installs it into "
                    f".venv-checkov, or set {CHECKOV_ENV})")
    try:
        proc = subprocess.run([exe, "-d", str(root), *_CHECKOV_ARGS], capture_output=True,
                              text=True, timeout=600, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [], f"Checkov did not run: {exc}"
    try:
        doc = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        return [], f"Checkov gave no JSON (exit {proc.returncode}): {proc.stderr.strip()[:200]}"
    return checkov_findings(doc, root), None


def find_checkov(root: Path) -> tuple[str | None, str]:
    """The ``checkov`` to run, in this order: ``$STACKWRIGHT_CHECKOV``; ``settings.policy.
    checkov`` of the scanned project's stackwright.yaml; ``checkov`` on PATH; beside the
    Python running Stackwright; in a ``.venv-checkov`` beside that Python's venv (what
    ``make setup`` installs). A configured path is the only one tried. Also says where it
    looked."""
    configured = os.environ.get(CHECKOV_ENV) or _setting(root)
    # A configured path is the only one tried: a typo must not run another Checkov.
    candidates = [configured] if configured else [
        shutil.which("checkov"), str(Path(sys.executable).with_name("checkov")),
        str(Path(sys.prefix).parent / ".venv-checkov" / "bin" / "checkov")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate, candidate
    tried = ", ".join(c for c in candidates if c)
    return None, tried


def _setting(root: Path) -> str | None:
    import yaml

    try:
        doc = yaml.safe_load((root / "stackwright.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return None
    settings = doc.get("settings") if isinstance(doc, dict) else None
    policy = settings.get("policy") if isinstance(settings, dict) else None
    value = policy.get("checkov") if isinstance(policy, dict) else None
    if not isinstance(value, str) or not value:
        return None
    return str(value if Path(value).is_absolute() else root / value)


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
                title=str(check.get("check_name") or ""),
                properties={k: str(check[k]) for k in ("resource", "guideline", "check_type")
                            if check.get(k)} | {"framework": str(report.get("check_type", ""))}))
    return out


def _rel(path: Path, root: Path) -> str:
    return str(path.relative_to(root))


__all__ = ["CHECKOV_ENV", "checkov_findings", "find_checkov", "run_checkov", "scan_directory",
           "scan_spec", "walk"]
