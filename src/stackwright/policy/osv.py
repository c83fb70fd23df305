"""Matching an image's packages against a vulnerability feed in OSV format, read from a local
file (no network at run time): a JSON list of OSV entries, ``{"vulns": [...]}``, or one entry.

A package is affected when an entry's ``affected[]`` names its ecosystem (``Debian``,
``Debian:12``, ``PyPI``) and name, and its version is listed in ``versions`` or falls in an
``ECOSYSTEM`` range (``introduced`` <= version < ``fixed``, or <= ``last_affected``).
Debian versions compare as dpkg does; PyPI versions by their release numbers, then the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from stackwright.errors import SpecError
from stackwright.policy.findings import Finding, Severity
from stackwright.policy.sbom import Package, normalize


def load_feed(path: Path) -> list[dict[str, Any]]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SpecError(f"cannot read the OSV feed {path}: {exc}", field="--osv",
                        hint="a JSON file of OSV entries (a list, or {\"vulns\": [...]})") from exc
    entries = doc.get("vulns", [doc]) if isinstance(doc, dict) else doc
    if not isinstance(entries, list):
        raise SpecError(f"{path}: not a list of OSV entries", field="--osv")
    return [e for e in entries if isinstance(e, dict)]


def match(packages: Iterable[Package], feed: list[dict[str, Any]], ref: str) -> list[Finding]:
    index: dict[tuple[str, str], list[Package]] = {}
    for p in packages:
        index.setdefault((p.ecosystem, _key(p.ecosystem, p.name)), []).append(p)
        if p.ecosystem == "Debian" and p.source:  # OSV's Debian entries name source packages
            index.setdefault(("Debian", p.source), []).append(p)
    found: dict[tuple[str, str], Finding] = {}
    for entry in feed:
        for affected in entry.get("affected", []):
            pkg = affected.get("package", {})
            ecosystem = str(pkg.get("ecosystem", "")).split(":")[0]
            for p in index.get((ecosystem, _key(ecosystem, str(pkg.get("name", "")))), []):
                if is_affected(p.version, affected, ecosystem):
                    found.setdefault((entry.get("id", "?"), p.purl), _finding(entry, p, ref,
                                                                              affected))
    return list(found.values())


def _key(ecosystem: str, name: str) -> str:
    return normalize(name) if ecosystem == "PyPI" else name


def is_affected(version: str, affected: dict[str, Any], ecosystem: str) -> bool:
    if version in affected.get("versions", []):
        return True
    for rng in affected.get("ranges", []):
        if rng.get("type") == "ECOSYSTEM" and _in_range(version, rng.get("events", []),
                                                         ecosystem):
            return True
    return False


def _in_range(version: str, events: list[dict[str, str]], ecosystem: str) -> bool:
    cmp = compare_debian if ecosystem == "Debian" else compare_pypi
    inside = False
    for event in events:
        if "introduced" in event:
            start = event["introduced"]
            inside = start == "0" or cmp(version, start) >= 0
        elif "fixed" in event and inside and cmp(version, event["fixed"]) >= 0:
            inside = False
        elif "last_affected" in event and inside and cmp(version, event["last_affected"]) > 0:
            inside = False
    return inside


def severity_of(entry: dict[str, Any], affected: dict[str, Any]) -> Severity:
    for holder in (affected.get("ecosystem_specific", {}), affected.get("database_specific", {}),
                   entry.get("database_specific", {})):
        name = str(holder.get("severity", "")).upper()
        if name in Severity.__members__:
            return Severity[name]
    for sev in entry.get("severity", []):
        try:
            score = float(sev.get("score", ""))
        except ValueError:
            continue
        return (Severity.CRITICAL if score >= 9 else Severity.HIGH if score >= 7
                else Severity.MEDIUM if score >= 4 else Severity.LOW)
    return Severity.MEDIUM


def _finding(entry: dict[str, Any], p: Package, ref: str, affected: dict[str, Any]) -> Finding:
    fixed = [e["fixed"] for r in affected.get("ranges", []) for e in r.get("events", [])
             if "fixed" in e]
    fix = f"; fixed in {fixed[0]}" if fixed else ""
    summary = entry.get("summary") or entry.get("details", "")[:120]
    return Finding(str(entry.get("id", "?")), severity_of(entry, affected),
                   f"{p.name} {p.version} ({p.ecosystem}) is affected: {summary}{fix}", ref,
                   tool="stackwright", title=str(entry.get("summary") or entry.get("id")),
                   properties={"package": p.name, "version": p.version, "purl": p.purl,
                               "fixed": fixed[0] if fixed else None})


# --- version order --------------------------------------------------------------------------
def compare_debian(a: str, b: str) -> int:
    """dpkg's order: epoch, then upstream, then revision, each by dpkg's string rules."""
    ea, ua, ra = _split_debian(a)
    eb, ub, rb = _split_debian(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _dpkg_part(ua, ub) or _dpkg_part(ra, rb)


def _split_debian(v: str) -> tuple[int, str, str]:
    epoch, sep, rest = v.partition(":")
    if not sep:
        epoch, rest = "0", v
    upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "0")
    return int(epoch) if epoch.isdigit() else 0, upstream, revision


def _order(c: str) -> int:
    if c == "~":
        return -1
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _dpkg_part(a: str, b: str) -> int:
    while a or b:
        la = re.match(r"[^\d]*", a).group(0)  # type: ignore[union-attr]
        lb = re.match(r"[^\d]*", b).group(0)  # type: ignore[union-attr]
        for i in range(max(len(la), len(lb))):
            ca = _order(la[i]) if i < len(la) else 0
            cb = _order(lb[i]) if i < len(lb) else 0
            if ca != cb:
                return -1 if ca < cb else 1
        a, b = a[len(la):], b[len(lb):]
        da = re.match(r"\d*", a).group(0)  # type: ignore[union-attr]
        db = re.match(r"\d*", b).group(0)  # type: ignore[union-attr]
        if int(da or 0) != int(db or 0):
            return -1 if int(da or 0) < int(db or 0) else 1
        a, b = a[len(da):], b[len(db):]
    return 0


def compare_pypi(a: str, b: str) -> int:
    """Release numbers first (1.10 > 1.9); a pre-release sorts before its release."""
    ka, kb = _pypi_key(a), _pypi_key(b)
    return (ka > kb) - (ka < kb)


def _pypi_key(v: str) -> tuple[tuple[int, ...], int, str]:
    m = re.match(r"v?(\d+(?:\.\d+)*)(.*)", v.strip().lower())
    if m is None:
        return ((), 0, v)
    release = tuple(int(x) for x in m.group(1).split("."))
    while release and release[-1] == 0:
        release = release[:-1]
    rest = m.group(2).lstrip(".-_")
    pre = -1 if re.match(r"(a|b|rc|alpha|beta|c|pre|preview|dev)", rest) else (1 if rest else 0)
    return (release, pre, rest)


__all__ = ["compare_debian", "compare_pypi", "is_affected", "load_feed", "match", "severity_of"]
