"""Containerfile rules: no ``latest`` base, a non-root ``USER``, no secrets in ``ENV``/``ARG``,
a ``HEALTHCHECK``.

=========  ========  ====================================================================
rule       severity  what
=========  ========  ====================================================================
SW-CF-001  high      a base image tagged ``latest`` or not tagged (not reproducible)
SW-CF-002  high      ``USER root``/``USER 0``, or no ``USER`` (the container runs as root)
SW-CF-003  critical  a secret-named ``ENV`` with a value, or ``ARG`` (kept in the history)
SW-CF-004  low       no ``HEALTHCHECK``
=========  ========  ====================================================================
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from stackwright.policy.findings import Finding, Severity

SECRETISH = re.compile(r"(passw(or)?d|secret|token|api_?key|private_?key|credential|access_?key)",
                       re.IGNORECASE)
NAMES = ("Containerfile", "Dockerfile")


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    args: str


def is_containerfile(path: Path) -> bool:
    name = path.name
    return name in NAMES or name.startswith(("Containerfile.", "Dockerfile.")) or \
        name.endswith((".containerfile", ".dockerfile"))


def parse(text: str) -> list[Instruction]:
    """Instructions with the line they start on; continuations joined, comments dropped."""
    out: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1])
            continue
        pending.append(line)
        keyword, _, args = " ".join(pending).strip().partition(" ")
        out.append(Instruction(start, keyword.upper(), args.strip()))
        pending = []
    return out


def check(path: Path, shown: str) -> list[Finding]:
    instructions = parse(path.read_text(errors="replace"))
    findings: list[Finding] = []
    stages: set[str] = set()
    last_from = 0
    user: Instruction | None = None
    for ins in instructions:
        if ins.keyword == "FROM":
            findings.extend(_base(ins, stages, shown))
            last_from, user = ins.line, None
        elif ins.keyword == "USER":
            user = ins
        elif ins.keyword in ("ENV", "ARG"):
            findings.extend(_secrets(ins, shown))
    findings.extend(_user(user, last_from, shown))
    if instructions and not any(i.keyword == "HEALTHCHECK" for i in instructions):
        findings.append(Finding("SW-CF-004", Severity.LOW, "no HEALTHCHECK: nothing tells the "
                                "runtime whether the container works (add HEALTHCHECK CMD ...)",
                                shown, 1, title="Containerfile without HEALTHCHECK"))
    return findings


def _base(ins: Instruction, stages: set[str], shown: str) -> list[Finding]:
    words = [w for w in ins.args.split() if not w.startswith("--")]
    if not words:
        return []
    image = words[0]
    if len(words) >= 3 and words[1].lower() == "as":
        stages.add(words[2].lower())
    if image.lower() in stages or image == "scratch" or "$" in image or "@sha256:" in image:
        return []
    last = image.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    if tag and tag != "latest":
        return []
    why = "is tagged latest" if tag else "has no tag (so latest)"
    return [Finding("SW-CF-001", Severity.HIGH, f"base image {image} {why}: builds are not "
                    "reproducible (pin a version or a digest)", shown, ins.line,
                    title="Base image not pinned")]


def _user(user: Instruction | None, last_from: int, shown: str) -> list[Finding]:
    if not last_from:
        return []
    if user is None:
        return [Finding("SW-CF-002", Severity.HIGH, "no USER in the final stage: the container "
                        "runs as root (add USER with a non-root user)", shown, last_from,
                        title="Container runs as root")]
    name = user.args.split(":")[0].strip()
    if name in ("root", "0"):
        return [Finding("SW-CF-002", Severity.HIGH, f"USER {user.args}: the container runs as "
                        "root (use a non-root user)", shown, user.line,
                        title="Container runs as root")]
    return []


def _secrets(ins: Instruction, shown: str) -> list[Finding]:
    found = []
    for name, value in _pairs(ins):
        if not SECRETISH.search(name):
            continue
        if ins.keyword == "ENV" and value:
            found.append(Finding("SW-CF-003", Severity.CRITICAL, f"ENV {name} holds a secret "
                                 "in the image (pass it at run time from the secrets store)",
                                 shown, ins.line, title="Secret in ENV"))
        elif ins.keyword == "ARG":
            found.append(Finding("SW-CF-003", Severity.CRITICAL, f"ARG {name}: build arguments "
                                 "are kept in the image history (use a build secret)",
                                 shown, ins.line, title="Secret in ARG"))
    return found


def _pairs(ins: Instruction) -> list[tuple[str, str]]:
    try:
        words = shlex.split(ins.args)
    except ValueError:
        words = ins.args.split()
    if ins.keyword == "ENV" and len(words) >= 2 and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))]  # the legacy `ENV NAME value` form
    return [(w.partition("=")[0], w.partition("=")[2]) for w in words]


__all__ = ["Instruction", "check", "is_containerfile", "parse"]
