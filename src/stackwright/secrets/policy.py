"""ACL policies in Vault's HCL and JSON formats, and their evaluation.

Example::

    path "secret/data/app/*" { capabilities = ["read", "list"] }
    path "secret/data/app/admin" { capabilities = ["deny"] }
    path "secret/metadata/+/config" { capabilities = ["read"] }

Matching follows Vault: a trailing ``*`` is a prefix glob, a ``+`` segment matches exactly one
path segment. Rules for the same path from several policies are merged, and ``deny`` at a
path removes every capability there. When several paths match, the most specific one
decides (Vault's priority rules). What no rule grants is denied.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from stackwright.secrets import hcl
from stackwright.secrets.errors import InvalidRequestError, PolicyParseError

CAPABILITIES = frozenset(
    {"create", "read", "update", "patch", "delete", "list", "sudo", "deny", "subscribe", "recover"}
)
_LEGACY = {
    "deny": frozenset({"deny"}),
    "read": frozenset({"read", "list"}),
    "write": frozenset({"create", "read", "update", "delete", "list"}),
    "sudo": frozenset({"create", "read", "update", "delete", "list", "sudo"}),
}
_ROOT_CAPABILITIES = CAPABILITIES - {"deny"}
_MEMO_SIZE = 4096  # paths remembered per ACL (an ACL is immutable; policy writes replace it)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.@-]{0,127}$")
RESERVED = frozenset({"root"})

DEFAULT_POLICY = """\
# Allow tokens to look up, renew and revoke themselves, and to ask what they may do.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/revoke-self" {
  capabilities = ["update"]
}
path "sys/capabilities-self" {
  capabilities = ["update"]
}
# Allow renewing and looking up a lease by its id (as Vault's default policy does).
path "sys/leases/renew" {
  capabilities = ["update"]
}
path "sys/leases/lookup" {
  capabilities = ["update"]
}
"""


@dataclass(frozen=True)
class PathRule:
    pattern: str
    capabilities: frozenset[str]

    def matches(self, path: str) -> bool:
        return _matches(self.pattern, path)

    @property
    def priority(self) -> tuple[int, bool, int, int, str]:
        """Sort key: among matching rules the highest decides (Vault's priority rules)."""
        wild = [i for i, c in enumerate(self.pattern) if c in "+*"]
        return (
            wild[0] if wild else len(self.pattern) + 1,
            not self.pattern.endswith("*"),
            -self.pattern.split("/").count("+"),
            len(self.pattern),
            self.pattern,
        )


@dataclass(frozen=True)
class Policy:
    name: str
    text: str
    rules: tuple[PathRule, ...]


def validate_name(name: str) -> str:
    lowered = name.lower()
    if not _NAME.match(lowered):
        raise InvalidRequestError(
            f"invalid policy name {name!r}",
            hint="use letters, digits, '_', '.', '@' or '-', at most 128 characters",
        )
    return lowered


def parse_policy(name: str, text: str) -> Policy:
    """Parse HCL or JSON policy text; errors name the line."""
    document = hcl.parse(text)
    rules: dict[str, set[str]] = {}
    for entry in document.entries:
        for pattern, body in _path_entries(entry):
            rules.setdefault(pattern, set()).update(_capabilities(body))
    return Policy(name, text, tuple(PathRule(p, frozenset(c)) for p, c in rules.items()))


def _path_entries(entry: hcl.Entry) -> list[tuple[str, hcl.Node]]:
    line = entry.node.line
    if entry.key != "path":
        raise PolicyParseError(f"unsupported key {entry.key!r}", line=line, hint="use path blocks")
    if entry.labels:
        if len(entry.labels) != 1:
            raise PolicyParseError("a path block takes exactly one path", line=line)
        return [(_check_pattern(entry.labels[0], line), entry.node)]
    if not isinstance(entry.node.value, hcl.Obj):
        raise PolicyParseError("'path' must be an object of paths", line=line)
    return [
        (_check_pattern(inner.key, inner.node.line), inner.node)
        for inner in entry.node.value.entries
    ]


def _check_pattern(pattern: str, line: int) -> str:
    pattern = pattern.lstrip("/")
    if "*" in pattern[:-1]:
        raise PolicyParseError(f"path {pattern!r}: '*' is only allowed at the end", line=line)
    return pattern


def _capabilities(body: hcl.Node) -> frozenset[str]:
    if not isinstance(body.value, hcl.Obj):
        raise PolicyParseError("a path rule must be a block", line=body.line)
    found: set[str] = set()
    for entry in body.value.entries:
        if entry.key == "capabilities":
            found |= _capability_list(entry.node)
        elif entry.key == "policy" and isinstance(entry.node.value, str):
            found |= _legacy(entry.node)
        else:
            raise PolicyParseError(
                f"{entry.key!r} is not supported in path rules",
                line=entry.node.line,
                hint="Stackwright enforces 'capabilities' only; refusing beats ignoring",
            )
    return frozenset({"deny"}) if "deny" in found else frozenset(found)


def _capability_list(node: hcl.Node) -> set[str]:
    if not isinstance(node.value, list):
        raise PolicyParseError("capabilities must be a list of strings", line=node.line)
    found: set[str] = set()
    for item in node.value:
        if not isinstance(item.value, str) or item.value not in CAPABILITIES:
            raise PolicyParseError(
                f"invalid capability {item.value!r}",
                line=item.line,
                hint=f"one of {', '.join(sorted(CAPABILITIES))}",
            )
        found.add(item.value)
    return found


def _legacy(node: hcl.Node) -> frozenset[str]:
    value = node.value
    if not isinstance(value, str) or value not in _LEGACY:
        raise PolicyParseError(f"invalid policy {value!r}", line=node.line)
    return _LEGACY[value]


def _matches(pattern: str, path: str) -> bool:
    glob = pattern.endswith("*")
    parts = (pattern[:-1] if glob else pattern).split("/")
    segments = path.split("/")
    if not glob:
        return len(parts) == len(segments) and all(
            p in ("+", s) for p, s in zip(parts, segments, strict=True)
        )
    last = len(parts) - 1
    if len(segments) < len(parts):
        return False
    if not all(p in ("+", s) for p, s in zip(parts[:last], segments, strict=False)):
        return False
    return "/".join(segments[last:]).startswith(parts[last])


@dataclass(frozen=True)
class Acl:
    """The merged rules of a token's policies."""

    rules: tuple[PathRule, ...]
    root: bool = False
    _memo: dict[str, frozenset[str]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    @classmethod
    def from_policies(cls, policies: Iterable[Policy], *, root: bool = False) -> Acl:
        merged: dict[str, set[str]] = {}
        for policy in policies:
            for rule in policy.rules:
                merged.setdefault(rule.pattern, set()).update(rule.capabilities)
        rules = (
            PathRule(p, frozenset({"deny"}) if "deny" in c else frozenset(c))
            for p, c in merged.items()
        )
        return cls(tuple(sorted(rules, key=lambda r: r.priority, reverse=True)), root)

    def capabilities(self, path: str) -> frozenset[str]:
        if self.root:
            return _ROOT_CAPABILITIES
        found = self._memo.get(path)
        if found is None:
            found = self._match(path)
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[path] = found
        return found

    def _match(self, path: str) -> frozenset[str]:
        for rule in self.rules:
            if rule.matches(path):
                return frozenset() if "deny" in rule.capabilities else rule.capabilities
        return frozenset()

    def allows(self, path: str, capability: str, *, sudo: bool = False) -> bool:
        granted = self.capabilities(path)
        return capability in granted and (not sudo or "sudo" in granted)
