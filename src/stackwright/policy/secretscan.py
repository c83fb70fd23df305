"""Secret detection in files (spec files, Containerfiles, pipeline logs) with detect-secrets:
known token patterns (AWS, GitHub, Slack, private keys, ...), keywords and high-entropy
strings. A finding names the file, line and kind of secret, never its value.

Public API (the pipelines domain calls it; keep it stable): ``scan_files(paths, root)`` and
``scan_text(text, source)`` for a log held in memory; images: ``imagescan.scan_image``.
"""

from __future__ import annotations

import threading
from pathlib import Path

from stackwright.policy.findings import Finding, Severity

_SEVERITY = {"Base64 High Entropy String": Severity.MEDIUM,
             "Hex High Entropy String": Severity.MEDIUM,
             "Secret Keyword": Severity.HIGH}
# A value Stackwright itself writes instead of a secret, and references: not secrets.
_SAFE = ("(sensitive)", "${{")
_DETECT_SECRETS_LOCK = threading.Lock()


def scan_files(paths: list[Path], root: Path) -> list[Finding]:
    """Every secret detect-secrets finds in ``paths`` (shown relative to ``root``)."""
    from detect_secrets.core.secrets_collection import SecretsCollection
    from detect_secrets.settings import default_settings

    collection = SecretsCollection(root=str(root))
    # detect-secrets keeps its settings (the plugins) in one global: a scan in another
    # thread leaving its ``default_settings()`` would empty them under this one's feet.
    with _DETECT_SECRETS_LOCK, default_settings():
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


def scan_text(text: str, source: str, *, first_line: int = 1) -> list[Finding]:
    """Every secret in ``text`` (a pipeline step's log, an image's config), reported at
    ``source`` and its line (``first_line`` is the number of the text's first line)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sw-secretscan-") as tmp:
        path = Path(tmp) / "text.log"
        path.write_text(text)
        found = scan_files([path], Path(tmp))
    return [Finding(f.rule, f.severity, f.message, source,
                    f.line + first_line - 1 if f.line else 0, f.tool, f.title, f.properties)
            for f in found]


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


__all__ = ["scan_files", "scan_text"]
