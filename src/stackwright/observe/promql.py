"""PromQL in a spec is checked by promtool at validation: every expression of every SLO and
AlertRule goes into one throw-away rule file (one promtool run), and each error promtool
reports for a rule is mapped back to the resource and field it came from."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from stackwright.core.model import Declared
from stackwright.errors import SpecError
from stackwright.tools import prometheus as prom

_RULE_ERROR = re.compile(r'rule (\d+), "check_\d+": (.*)$')


@dataclass(frozen=True)
class Expression:
    """One PromQL expression written in a resource's field (``{{.window}}`` filled in)."""

    decl: Declared
    field: str
    expr: str


def check_expressions(found: Sequence[Expression]) -> list[SpecError]:
    """A located SpecError per expression promtool cannot parse; none without promtool
    (the rule files are checked again before Prometheus loads them)."""
    todo = [e for e in found if "${{" not in e.expr]
    if not todo or shutil.which(prom.PROMTOOL) is None:
        return []
    rules = [{"record": f"check_{i}", "expr": e.expr} for i, e in enumerate(todo)]
    with tempfile.TemporaryDirectory(prefix="sw-promql-") as tmp:
        path = Path(tmp) / "check.yaml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "check", "rules": rules}]}))
        result = prom.check_rules([path])
    if result.ok:
        return []
    return _errors(result.output, todo)


def _errors(output: str, todo: Sequence[Expression]) -> list[SpecError]:
    errors = []
    for line in output.splitlines():
        match = _RULE_ERROR.search(line)
        if match is None:
            continue
        e = todo[int(match.group(1)) - 1]
        errors.append(SpecError(
            f"invalid PromQL: {match.group(2)}", location=e.decl.location, field=e.field,
            hint=f"promtool cannot parse {e.expr.strip()!r}"))
    if not errors:  # promtool failed in a way no rule is blamed for
        e = todo[0]
        errors.append(SpecError(f"promtool rejected the expressions: {output[-400:]}",
                                location=e.decl.location, field=e.field,
                                hint="run promtool check rules on `stackwright slo rules`"))
    return errors
