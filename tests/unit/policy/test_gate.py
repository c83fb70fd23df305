"""The policy plan check on plans built by hand: denials, warnings, levels, environments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stackwright.core.checks import PlanCheckInput, enforce
from stackwright.core.model import (
    Action,
    Address,
    Change,
    CheckResult,
    Declared,
    Enforcement,
    Plan,
)
from stackwright.errors import PlanRefusedError, SpecErrors
from stackwright.policy import gate
from stackwright.policy.gate import policy_check

SERVICE = {"image": "nginx:1.27", "resources": {"cpus": 1, "memory": "64m"}}


def declared(address: str, spec: dict[str, Any], labels: dict[str, str] | None = None
             ) -> Declared:
    return Declared(Address.parse(address), "stackwright.dev/v1", spec, labels=labels or {})


def policy(**spec: Any) -> Declared:
    return declared("Policy/baseline", spec)


def check(decls: list[Declared], env: str = "prod", root: Path = Path(".")) -> list[CheckResult]:
    changes = tuple(Change(d.address, Action.CREATE, after=d.spec) for d in decls)
    plan = Plan("demo", env, changes, 0, "0")
    return policy_check(PlanCheckInput(plan, {d.address: d for d in decls}, root, env,
                                       "ann@host"))


def test_unlabelled_service_in_prod_is_denied_with_the_policy_message() -> None:
    found = check([declared("Service/web", SERVICE),
                   policy(library=["required-labels"], enforcement="hard-mandatory")])
    assert [(r.level, r.enforcement, r.address) for r in found] == [
        ("deny", Enforcement.HARD_MANDATORY, "Service/web")]
    assert found[0].message == ("Service/web: missing required label(s) owner, team, "
                                "cost-center (metadata.labels needs owner, team, cost-center)")
    with pytest.raises(PlanRefusedError, match="missing required label"):
        enforce(Plan("demo", "prod", (), 0, "0", checks=tuple(found)), override="a reason")


def test_labelled_service_passes() -> None:
    labels = {"owner": "ann", "team": "pay", "cost-center": "42"}
    pinned = {**SERVICE, "image": "nginx@sha256:" + "a" * 64}
    assert check([declared("Service/web", pinned, labels),
                  policy(library=["all"], enforcement="hard-mandatory")]) == []
    assert [r.source for r in check([declared("Service/web", SERVICE, labels),
                                     policy(library=["all"])])] == [
        "Policy/baseline image_digest"]


def test_advisory_only_warns_and_does_not_refuse() -> None:
    found = check([declared("Service/web", SERVICE), policy(library=["required-labels"])])
    assert [r.enforcement for r in found] == [Enforcement.ADVISORY]
    assert not found[0].refuses
    assert enforce(Plan("demo", "prod", (), 0, "0", checks=tuple(found)), None) == ()


def test_soft_mandatory_needs_an_override() -> None:
    found = check([declared("Service/web", SERVICE),
                   policy(library=["required-labels"], enforcement="soft-mandatory")])
    plan = Plan("demo", "prod", (), 0, "0", checks=tuple(found))
    with pytest.raises(PlanRefusedError, match="--override REASON"):
        enforce(plan, None)
    assert enforce(plan, "INC-7: labels follow") == tuple(found)


def test_levels_and_scope_per_environment() -> None:
    spec = {"library": ["required-labels"], "environments": ["prod", "dev"],
            "enforcement": {"prod": "hard-mandatory", "*": "advisory"}}
    web = declared("Service/web", SERVICE)
    assert [r.enforcement for r in check([web, policy(**spec)], "prod")] == [
        Enforcement.HARD_MANDATORY]
    assert [r.enforcement for r in check([web, policy(**spec)], "dev")] == [Enforcement.ADVISORY]
    assert check([web, policy(**spec)], "staging") == []


def test_input_has_action_environment_actor_and_warn_rules(tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text(
        'package team.rules\nimport rego.v1\n'
        'warn contains msg if {\n  some c in input.changes\n  c.action == "create"\n'
        '  msg := concat("", [c.address, ": created by ", input.actor, " in ",'
        ' input.environment])\n}\n'
        'deny contains {"msg": "too many creates", "address": "Service/web"} if '
        'input.summary.create > 1\n')
    found = check([declared("Service/web", SERVICE), declared("Service/api", SERVICE),
                   policy(modules=[{"file": "p.rego"}], enforcement="hard-mandatory")],
                  root=tmp_path)
    by_level = {(r.level, r.message, r.address) for r in found}
    assert ("warn", "Service/api: created by ann@host in prod", "Service/api") in by_level
    assert ("deny", "too many creates", "Service/web") in by_level
    assert all(r.enforcement is Enforcement.ADVISORY for r in found if r.level == "warn")


def test_sensitive_values_reach_policies_masked(tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text(
        'package leak\nimport rego.v1\n'
        'deny contains v if {\n  some c in input.changes\n  v := c.after.env.TOKEN\n}\n')
    web = Declared(Address("Service", "web"), "stackwright.dev/v1",
                   {**SERVICE, "env": {"TOKEN": "s3cr3t-value"}}, sensitive=frozenset({
                       "env.TOKEN"}))
    change = Change(web.address, Action.CREATE, after=web.spec, sensitive=web.sensitive)
    pol = policy(modules=[{"file": "p.rego"}])
    plan = Plan("demo", "prod", (change,), 0, "0")
    found = policy_check(PlanCheckInput(plan, {web.address: web, pol.address: pol}, tmp_path,
                                        "prod", "ann"))
    assert [r.message for r in found] == ["(sensitive)"]


def test_every_change_of_a_large_plan_is_evaluated_in_one_query() -> None:
    decls = [declared(f"Service/s{i}", SERVICE) for i in range(203)]
    whole = ("package team.size\nimport rego.v1\n"
             "warn contains msg if {\n  n := count(input.changes)\n  n > 200\n"
             "  msg := concat(\"\", [\"Policy: \", format_int(n, 10), \" changes\"])\n}\n")
    found = check([*decls, policy(library=["required-labels"], modules=[{"inline": whole}])])
    denials = [r for r in found if r.level == "deny"]
    assert sorted(r.address or "" for r in denials) == sorted(str(d.address) for d in decls)
    # a rule about the whole plan sees every change at once, not a batch of them
    assert [r.message for r in found if r.level == "warn"] == ["Policy: 203 changes"]


def test_the_compiled_policy_is_reused_until_a_module_changes() -> None:
    gate._COMPILED.clear()
    web = declared("Service/web", SERVICE)
    check([web, policy(library=["required-labels"])])
    check([web, policy(library=["required-labels"])], env="dev")
    assert len(gate._COMPILED) == 1
    check([web, policy(library=["required-labels"], params={"required_labels": ["owner"]})])
    assert len(gate._COMPILED) == 2


def test_bad_rego_names_file_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "bad.rego").write_text(
        "package bad\n\ndeny contains msg if {\n  msg := \n}\n")
    with pytest.raises(SpecErrors) as caught:
        check([declared("Service/web", SERVICE),
               policy(modules=[{"file": "policies/bad.rego"}])], root=tmp_path)
    text = str(caught.value)
    assert "policies/bad.rego:4:7: spec.modules[0]: Rego: Invalid assignment operator" in text


def test_own_module_overrides_a_builtin_package(tmp_path: Path) -> None:
    (tmp_path / "labels.rego").write_text(
        "package stackwright.lib.required_labels\nimport rego.v1\n"
        "deny contains \"mine\" if false\n")
    found = check([declared("Service/web", SERVICE),
                   policy(library=["required-labels"], modules=[{"file": "labels.rego"}])],
                  root=tmp_path)
    assert found == []


def test_the_engine_asked_for_is_the_one_that_evaluates(rego_engine: str) -> None:
    from stackwright.policy.rego import Compiled, Module

    source = ("package t\nimport rego.v1\n"
              "deny contains msg if { some c in input.changes; c.action == \"create\"; "
              "msg := sprintf(\"%s: no\", [c.address]) }\n")
    compiled = Compiled([Module("t.rego", source)], "x = data.t.deny")
    assert compiled.engine == rego_engine
    changes = [{"address": f"Service/s{i}", "action": a} for i, a in
               enumerate(["create", "update", "create"])]
    assert sorted(compiled.query({"changes": changes})) == ["Service/s0: no", "Service/s2: no"]
    assert compiled.query({"changes": []}) == []


def test_an_unknown_engine_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from stackwright.errors import SpecError
    from stackwright.policy.rego import ENGINE_ENV, Compiled, Module

    monkeypatch.setenv(ENGINE_ENV, "opa")
    with pytest.raises(SpecError, match="names no Rego engine"):
        Compiled([Module("t.rego", "package t\n")], "x = data.t")


def test_an_unsafe_variable_is_located_in_its_module(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from stackwright.errors import SpecError
    from stackwright.policy.rego import ENGINE_ENV

    monkeypatch.setenv(ENGINE_ENV, "regorus")  # regorus finds it when it evaluates
    (tmp_path / "unsafe.rego").write_text(
        "package unsafe\nimport rego.v1\n\ndeny contains msg if {\n  msg := nowhere\n}\n")
    with pytest.raises((SpecError, SpecErrors)) as caught:
        check([declared("Service/web", SERVICE),
               policy(modules=[{"file": "unsafe.rego"}])], root=tmp_path)
    assert "unsafe.rego:5:10: spec.modules[0]: Rego evaluation failed: var nowhere is unsafe" \
        in str(caught.value)
