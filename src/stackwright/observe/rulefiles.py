"""The driver the SLO and AlertRule kinds share: a Prometheus rule file under
``.stackwright/observe/<env>/rules/``, checked by ``promtool check rules`` before it replaces
the old one. The managed Prometheus notices the change and reloads (HTTP, no restart)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from stackwright.core.kinds import Driver, DriverContext, SpecModel
from stackwright.core.model import Address, Applied, Observed, Recorded
from stackwright.errors import PermanentError
from stackwright.observe.paths import ObservePaths
from stackwright.tools import prometheus as prom

Compiler = Callable[[DriverContext, str, Any], str]
"""(context, resource name, typed spec) -> the rule file's YAML text."""


class RuleFileDriver(Driver):
    """Writes one resource's rules as a checked rule file; a missing or edited file is
    observed as gone, so the next apply writes it again."""

    reads_io = False

    def __init__(self, kind: str, model: type[SpecModel], compiler: Compiler) -> None:
        self.kind = kind
        self.model = model
        self.compiler = compiler

    def path(self, ctx: DriverContext, name: str) -> Path:
        return ObservePaths.of(ctx.project_dir, ctx.environment).rule_file(self.kind, name)

    def read(self, ctx: DriverContext, recorded: Recorded) -> Observed | None:
        path = self.path(ctx, recorded.address.name)
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except FileNotFoundError:
            return None
        if digest != recorded.outputs.get("sha256"):
            return None
        return Observed(outputs={"rules_file": str(path), "sha256": digest})

    def create(self, ctx: DriverContext, inputs: Mapping[str, Any]) -> Applied:
        name = _name(ctx.address)
        spec = self.model.model_validate(dict(inputs))
        text = self.compiler(ctx, name, spec)
        path = self.path(ctx, name)
        write_checked(path, text)
        ctx.log(f"rules written to {path}")
        return Applied(id=str(path), outputs={"rules_file": str(path),
                                              "sha256": hashlib.sha256(text.encode()).hexdigest()})

    def update(self, ctx: DriverContext, recorded: Recorded,
               inputs: Mapping[str, Any]) -> Applied:
        return self.create(ctx, inputs)

    def delete(self, ctx: DriverContext, recorded: Recorded) -> None:
        self.path(ctx, recorded.address.name).unlink(missing_ok=True)


def write_checked(path: Path, text: str) -> None:
    """Write ``text`` beside ``path``, check it with promtool, then move it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".check")  # Prometheus loads only *.yaml
    tmp.write_text(text, encoding="utf-8")
    result = prom.check_rules([tmp])
    if not result.ok:
        tmp.unlink(missing_ok=True)
        raise PermanentError(f"promtool rejected the generated rules for {path.name}",
                             hint=result.output[-800:])
    os.replace(tmp, path)


def _name(address: Address | None) -> str:
    if address is None:
        raise PermanentError("the engine did not say which resource is written",
                             hint="DriverContext.address must be set")
    return address.name
