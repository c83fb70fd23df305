"""``stackwright policy test``: run the ``test_*`` rules of Rego modules, as ``opa test`` does.

A test passes when its rule is defined and true; it fails when it is undefined or false. All
the modules given are compiled together, so tests see the rules they test (and mock input
and data with ``with``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from stackwright.policy.rego import Compiled, Module

_RUNNER = "stackwright.testrun"


@dataclass(frozen=True)
class TestOutcome:
    package: str
    rule: str
    module: str
    passed: bool

    @property
    def name(self) -> str:
        return f"data.{self.package}.{self.rule}"


@dataclass(frozen=True)
class TestReport:
    outcomes: tuple[TestOutcome, ...]
    elapsed: float

    @property
    def passed(self) -> int:
        return sum(1 for o in self.outcomes if o.passed)

    @property
    def failed(self) -> int:
        return len(self.outcomes) - self.passed

    @property
    def ok(self) -> bool:
        return self.failed == 0


def run_tests(modules: Sequence[Module]) -> TestReport:
    """Compile ``modules`` with a runner module and evaluate every ``test_*`` rule once."""
    started = time.perf_counter()
    tests = [(m.package, rule, m.name) for m in modules for rule in m.test_rules()]
    if not tests:
        return TestReport((), time.perf_counter() - started)
    runner = Module("<policy test runner>", _runner_source(tests))
    compiled = Compiled([*modules, runner], f"x = data.{_RUNNER}.results")
    results = compiled.query({}) or {}
    outcomes = tuple(TestOutcome(pkg, rule, name, results.get(f"{pkg}.{rule}") is True)
                     for pkg, rule, name in tests)
    return TestReport(outcomes, time.perf_counter() - started)


def _runner_source(tests: Sequence[tuple[str, str, str]]) -> str:
    lines = [f"package {_RUNNER}", "", "import rego.v1", ""]
    for pkg, rule, _ in tests:
        lines.append(f'results["{pkg}.{rule}"] := true if data.{pkg}.{rule} == true')
    return "\n".join(lines) + "\n"


__all__ = ["TestOutcome", "TestReport", "run_tests"]
