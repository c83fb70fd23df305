"""``policy test``'s runner: the library's own tests pass; a broken test fails."""

from __future__ import annotations

from stackwright.policy import library
from stackwright.policy.rego import Module
from stackwright.policy.testing import run_tests


def library_modules() -> list[Module]:
    mods = [Module(n, library.module_path(n).read_text()) for n in sorted(library.LIBRARY)]
    return mods + [Module(p.name, p.read_text()) for p in library.test_paths()]


def test_the_built_in_library_passes_its_own_tests() -> None:
    report = run_tests(library_modules())
    assert report.ok, [o.name for o in report.outcomes if not o.passed]
    assert report.passed >= 14


def test_a_broken_test_fails_and_is_named() -> None:
    broken = Module("mine_test.rego", (
        "package stackwright.lib.required_labels\nimport rego.v1\n"
        "test_wrong_message if {\n"
        '  found := deny with input.changes as [{"address": "Service/a", "kind": "Service",'
        ' "action": "create", "labels": {}}]\n'
        '  found == {"something else"}\n}\n'
        "test_right if { true }\n"))
    report = run_tests([*library_modules(), broken])
    failed = [o.name for o in report.outcomes if not o.passed]
    assert failed == ["data.stackwright.lib.required_labels.test_wrong_message"]
    assert not report.ok
