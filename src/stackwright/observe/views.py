"""What the observe commands and API routes show, computed from the engine (no printing)."""

from __future__ import annotations

from typing import Any

from stackwright.core.engine import Engine
from stackwright.core.values import contains_unknown
from stackwright.observe.paths import ObservePaths
from stackwright.observe.slo import compiled_for


def compiled_slos(engine: Engine, service: str | None = None) -> list[dict[str, Any]]:
    """Each declared SLO (of ``service``) with its rule file's path and text."""
    paths = ObservePaths.of(engine.root, engine.environment)
    found = []
    for address, decl in engine.project.declared.items():
        if address.kind != "SLO" or (service and decl.spec.get("service") != service):
            continue
        ctx = engine.driver_context(address)
        spec = dict(decl.spec)
        if contains_unknown(spec) or "${{" in str(spec):
            continue  # references resolve at apply; the command shows literal specs
        found.append({"slo": address.name, "service": spec.get("service"),
                      "path": str(paths.rule_file("SLO", address.name)),
                      "rules": compiled_for(ctx, address.name, spec)})
    return found
