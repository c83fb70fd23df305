"""Secret detection in files (spec files, Containerfiles, pipeline logs) with detect-secrets:
known token patterns (AWS, GitHub, Slack, private keys, ...), keywords and high-entropy
strings. A finding names the file, line and kind of secret, never its value.
"""

from __future__ import annotations

from pathlib import Path

from stackwright.policy.findings import Finding, Severity

_SEVERITY = {"Base64 High Entropy String": Severity.MEDIUM,
             "Hex High Entropy String": Severity.MEDIUM,
             "Secret Keyword": Severity.HIGH}
# A value Stackwright itself writes instead of a secret, and references: not secrets.
_SAFE = ("(sensitive)", "${{")


def scan_files(paths: list[Path], root: Path) -> list[Finding]:
    """Every secret detect-secrets finds in ``paths`` (shown relative to ``root``)."""
    from detect_secrets.core.secrets_collection import SecretsCollection
    from detect_secrets.settings import default_settings

    collection = SecretsCollection(root=str(root))
    with default_settings():
        for path in paths:
            collection.scan_file(str(path))
    findings = []
    for filename, secret in collection:
        shown = _rel(Path(filename), root)
        if _is_reference(Path(filename), root, secret.line_number):
            continue
        severity = _SEVERITY.get(secret.type, Severity.CRITICAL)
        findings.append(Finding(
            "SW-SECRET", severity, f"{secret.type} (hash {secret.secret_hash[:12]}): move it "
            "to the secrets store and reference it", shown, secret.line_number or 0,
            title="Secret in a file", properties={"type": secret.type}))
    return findings


def _is_reference(path: Path, root: Path, line: int | None) -> bool:
    if not line:
        return False
    full = path if path.is_absolute() else root / path
    try:
        text = full.read_text(errors="replace").splitlines()[line - 1]
    except (OSError, IndexError):
        return False
    return any(marker in text for marker in _SAFE)


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


__all__ = ["scan_files"]
