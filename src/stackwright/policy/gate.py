"""The policy plan check (``stackwright.plan_checks`` entry ``policy``): every ``Policy`` that
applies to the environment evaluates the plan's changes and yields its denials and warnings.

Changes reach Rego masked (``change_to_json``): policies never see a sensitive value. The
whole plan is one query (``input.changes`` holds every change, as conftest users write plan
policies), on a bundle compiled once per policy digest and reused; ``input.summary`` carries
the plan's counts. No-op changes are not evaluated.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackwright.core.checks import PlanCheckInput
from stackwright.core.model import Action, Address, CheckResult, Declared, Enforcement
from stackwright.errors import Location
from stackwright.gcpause import gc_paused
from stackwright.policy import library
from stackwright.policy.rego import Compiled, Module, engine_name

if TYPE_CHECKING:
    from stackwright.policy.kind import PolicySpec

CHECK = "policy"
POLICY = "Policy"  # the kind's name; its module (pydantic models) loads only when declared
_EVAL = "stackwright.policy_eval"
_ADDRESS = re.compile(r"^([A-Z][A-Za-z0-9]*/[^\s:]+): ")
_COMPILED: dict[str, Compiled] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 32


@dataclass(frozen=True)
class LoadedPolicy:
    address: Address
    spec: PolicySpec
    modules: tuple[Module, ...]
    tests: tuple[Module, ...]


def policy_check(inp: PlanCheckInput) -> list[CheckResult]:
    """The plan check: policies that apply here, evaluated on the plan's changes."""
    if not any(a.kind == POLICY for a in inp.declared):
        return []
    policies = [p for p in declared_policies(inp.declared) if p[1].applies_to(inp.environment)]
    if not policies:
        return []
    found: list[CheckResult] = []
    with gc_paused():  # the input's many small dicts, no cycles (see stackwright.gcpause)
        changes = change_docs(inp)
        if not changes:
            return []
        doc = plan_document(inp)
        for decl, spec in policies:
            loaded = load_policy(decl, spec, inp.project_dir)
            found.extend(evaluate(loaded, doc, changes, inp.environment))
    if any("vulnerabilities" in spec.params for _, spec in policies):
        from stackwright.policy.imagegate import vulnerability_results

        found.extend(vulnerability_results(inp, policies))
    return found


def plan_document(inp: PlanCheckInput) -> dict[str, Any]:
    """The input document's fields besides ``changes``: what the plan is about."""
    return {"project": inp.plan.project, "environment": inp.environment, "actor": inp.actor,
            "destroy": inp.plan.destroy, "summary": inp.plan.counts()}


def declared_policies(declared: Mapping[Address, Declared]) -> list[tuple[Declared, PolicySpec]]:
    from stackwright.core.values import spec_fields
    from stackwright.policy.kind import PolicySpec

    return [(d, PolicySpec.model_validate(spec_fields(d.spec)))
            for a, d in sorted(declared.items()) if a.kind == POLICY]


def change_docs(inp: PlanCheckInput) -> list[dict[str, Any]]:
    from stackwright.core.planfile import change_to_json

    docs = []
    for change in inp.plan.changes:
        if change.action is Action.NOOP or change.address.kind == POLICY:
            continue
        full = change_to_json(change)
        decl = inp.declared.get(change.address)
        docs.append({
            "address": full["address"], "kind": full["kind"], "name": full["name"],
            "action": full["action"], "before": full["before"], "after": full["after"],
            "labels": dict(decl.labels) if decl else {},
            "refs": {r.field: str(r.target) for r in decl.refs if r.target} if decl else {},
            "api_version": change.api_version,
        })
    return docs


def load_policy(decl: Declared, spec: PolicySpec, project_dir: Path) -> LoadedPolicy:
    """The policy's modules: its own (files or inline), then the built-in rules it names
    unless one of its own has the same package."""
    from stackwright.policy.kind import read_rego

    own = [_module(decl, project_dir, i, m.file, m.inline) for i, m in enumerate(spec.modules)]
    packages = {m.package for m in own}
    builtin = [Module(f"<library {name}>", library.module_path(name).read_text())
               for name in spec.library_names() if library.package(name) not in packages]
    tests = [Module(rel, read_rego(project_dir, rel, f"tests[{i}]"), _at(decl), f"spec.tests[{i}]")
             for i, rel in enumerate(spec.tests)]
    return LoadedPolicy(decl.address, spec, (*own, *builtin), tuple(tests))


def _module(decl: Declared, root: Path, index: int, file: str | None,
            inline: str | None) -> Module:
    from stackwright.policy.kind import read_rego

    field = f"spec.modules[{index}]"
    if file is not None:
        return Module(file, read_rego(root, file, f"modules[{index}]"), _at(decl), field)
    # Errors name the spec file and the resource; line and column are within the inline text.
    where = f"{decl.location.file} " if decl.location else ""
    return Module(f"{where}{decl.address} {field}.inline", inline or "", _at(decl), field)


def _at(decl: Declared) -> Location | None:
    return decl.location


def evaluate(policy: LoadedPolicy, doc: Mapping[str, Any], changes: Sequence[Mapping[str, Any]],
             environment: str) -> list[CheckResult]:
    """The policy's denials and warnings on the whole plan: one query, ``input.changes``
    holding every change, on the policy's modules compiled once (``compiled_for``)."""
    if not policy.modules:
        return []
    compiled = compiled_for(policy)
    level = policy.spec.level_for(environment)
    seen: dict[tuple[str, str, str, str | None], None] = {}
    for item in compiled.query({**doc, "changes": list(changes)}) or []:
        msg = item["msg"]
        about = msg.get("address") if isinstance(msg, dict) else None
        seen[(item["pkg"], item["level"], _text(msg), about)] = None
    return [_result(policy.address, pkg, lvl, msg, level, about)
            for pkg, lvl, msg, about in seen]


def compiled_for(policy: LoadedPolicy) -> Compiled:
    """The policy's modules, runner and params compiled into a bundle, kept by their digest:
    a plan, its apply and every later plan of the process reuse it while nothing changed."""
    packages = list(dict.fromkeys(m.package for m in policy.modules))
    runner = Module(f"<{policy.address} evaluation>", _runner(packages))
    modules = (*policy.modules, runner)
    data = {"params": policy.spec.params}
    key = f"{engine_name()}:{policy_digest(modules, data)}"
    with _CACHE_LOCK:
        found = _COMPILED.get(key)
    if found is not None:
        return found
    compiled = Compiled(modules, f"x = data.{_EVAL}.result", data)
    with _CACHE_LOCK:
        _COMPILED[key] = compiled
        while len(_COMPILED) > _CACHE_SIZE:
            _COMPILED.pop(next(iter(_COMPILED)))
    return compiled


def policy_digest(modules: Sequence[Module], data: Mapping[str, Any]) -> str:
    """A digest of modules (names and sources) and data: the compiled bundle's cache key."""
    h = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode())
    for m in modules:
        h.update(b"\0" + m.name.encode() + b"\0" + m.source.encode())
    return h.hexdigest()


def _runner(packages: Iterable[str]) -> str:
    lines = [f"package {_EVAL}", "", "import rego.v1", ""]
    for pkg in packages:
        for rule in ("deny", "warn"):
            lines.append(f'result contains {{"pkg": "{pkg}", "level": "{rule}", "msg": m}} '
                         f"if {{ some m in data.{pkg}.{rule} }}")
    return "\n".join(lines) + "\n"


def _text(msg: Any) -> str:
    if isinstance(msg, dict):
        return str(msg.get("msg") or msg.get("message") or msg)
    return str(msg)


def _result(address: Address, pkg: str, level: str, msg: str,
            enforcement: Enforcement, about: str | None = None) -> CheckResult:
    """conftest's forms: a message (``Kind/name: ...`` names the resource) or an object
    with ``msg`` and an optional ``address``."""
    found = _ADDRESS.match(msg)
    short = pkg.removeprefix("stackwright.lib.")
    return CheckResult(check=CHECK, source=f"{address} {short}", level=level, message=msg,
                       enforcement=enforcement if level == "deny" else Enforcement.ADVISORY,
                       address=about or (found.group(1) if found else None))


__all__ = ["LoadedPolicy", "change_docs", "compiled_for", "declared_policies", "evaluate",
           "load_policy", "plan_document", "policy_check", "policy_digest"]
