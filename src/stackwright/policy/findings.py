"""Findings of the scanners: one rule broken at one place, with a severity."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from stackwright.errors import SpecError


class Severity(enum.IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


_NONE = 99


def parse_severity(text: str) -> int:
    """A ``--fail-on`` value: a severity name, or ``none`` (never fail)."""
    name = text.strip().upper()
    if name == "NONE":
        return _NONE
    try:
        return int(Severity[name])
    except KeyError:
        raise SpecError(f"unknown severity {text!r}", field="--fail-on",
                        hint="use low, medium, high, critical or none") from None


@dataclass(frozen=True)
class Finding:
    """``rule`` (an id such as SW-CF-001), where (``file``, 1-based ``line``), what."""

    rule: str
    severity: Severity
    message: str
    file: str
    line: int = 0
    tool: str = "stackwright"
    title: str = ""
    properties: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity.name.lower(), "tool": self.tool,
                "file": self.file, "line": self.line, "message": self.message,
                "title": self.title or self.rule, **({"properties": self.properties}
                                                      if self.properties else {})}


def at_or_above(finding: Finding, threshold: int) -> bool:
    return int(finding.severity) >= threshold


_COLOR = {Severity.CRITICAL: "red", Severity.HIGH: "red", Severity.MEDIUM: "yellow",
          Severity.LOW: "cyan", Severity.INFO: "dim"}


def render_table(findings: list[Finding], out: Any) -> None:
    if not findings:
        return
    rows = sorted(findings, key=lambda f: (-int(f.severity), f.file, f.line, f.rule))
    width = max(len(_where(f)) for f in rows)
    rule = max(len(f.rule) for f in rows)
    for f in rows:
        sev = out.paint(f"{f.severity.name.lower():<8}", _COLOR[f.severity])
        out.line(f"  {sev} {f.rule:<{rule}} {_where(f):<{width}}  {f.message}")


def _where(f: Finding) -> str:
    return f"{f.file}:{f.line}" if f.line else f.file


__all__ = ["Finding", "Severity", "at_or_above", "parse_severity", "render_table"]
